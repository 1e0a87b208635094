"""Does bfloat16 autocast on a CPU cost ResNet-18 accuracy, and does it pay for LeNet?

Why: ``d2lnotes.train.amp_dtype`` turns bf16 autocast on by default on CPUs with native bf16
instructions, because it made the training step much faster there; this script is the
evidence that it does so without losing accuracy (ResNet-18, 64 px, 5,120/2,048 images,
3 epochs, lr 0.05, batch 256, seeds 0-2, float32 against bf16, the same batches for the same
seed), and that for a small network (LeNet with BN, 28 px) it does not pay, which is why the
notebooks that train LeNet pass ``amp=False``.

    D2LNOTES_DATA=../shared/data python benchmarks/cpu_bf16_accuracy.py
"""
import torch

from d2lnotes import data, models, train

torch.set_num_threads(2)
print("native bf16:", train.cpu_has_native_bf16(), "| device:", train.device_name("cpu"),
      "|", train.versions())
it, te = data.load_data_fashion_mnist(256, resize=64, train_size=5120, test_size=2048, seed=0,
                                      device="cpu")
for seed in [0, 1, 2]:
    for amp in [False, True]:
        torch.manual_seed(seed)
        it.generator.manual_seed(seed)
        h = train.train_ch6(models.resnet18(), it, te, 3, 0.05, "cpu", amp=amp, verbose=False)
        r = dict(seed=seed, amp=amp, val=h.val_acc_all.iloc[-1], train=h.train_acc_all.iloc[-1],
                 s=h.seconds.sum())
        print(r, flush=True)
it, te = data.load_data_fashion_mnist(256, train_size=12000, test_size=2000, seed=0, device="cpu")
for amp in [False, True, False, True]:
    torch.manual_seed(0)
    it.generator.manual_seed(0)
    h = train.train_ch6(models.lenet(batch_norm=True), it, te, 1, 1.0, "cpu", amp=amp,
                        verbose=False)
    print("lenet", amp, h.seconds.sum(), h.val_acc_all.iloc[-1], flush=True)
