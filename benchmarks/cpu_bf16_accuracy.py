"""Does bfloat16 autocast on a CPU cost ResNet-18 accuracy, and does it pay for LeNet?

Why: ``d2lnotes.device.amp_dtype`` turns bf16 autocast on by default on CPUs with native bf16
instructions, because it made the training step much faster there; this script is the
evidence that it does so without losing accuracy (ResNet-18, 64 px, 5,120/2,048 images,
3 epochs, lr 0.05, batch 256, seeds 0-2, float32 against bf16, the same batches for the same
seed), and that for a small network (LeNet with BN, 28 px) it does not pay, which is why the
notebooks that train LeNet pass ``amp=False``. The figures are in benchmarks/README.md,
generated from this script's result folder (``--out``, default
``benchmarks/results/<date>-cpu_bf16_accuracy``).

    D2LNOTES_DATA=../shared/data python benchmarks/cpu_bf16_accuracy.py
"""
import argparse
import sys
from pathlib import Path

import torch

from d2lnotes import data, models, train
from d2lnotes.device import cpu_has_native_bf16, device_name

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_io import Result  # noqa: E402

RESNET = dict(batch_size=256, resize=64, train_size=5120, test_size=2048, epochs=3, lr=0.05,
              seeds=[0, 1, 2], amps=[False, True])
LENET = dict(batch_norm=True, batch_size=256, resize=None, train_size=12000, test_size=2000,
             epochs=1, lr=1.0, seed=0, runs=[False, True, False, True])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=None, help="result folder (default: benchmarks/results/"
                   "<date>-cpu_bf16_accuracy)")
    args = p.parse_args(argv)
    with Result("cpu_bf16_accuracy", out=args.out) as result:
        print("native bf16:", cpu_has_native_bf16(), "| device:", device_name("cpu"))
        it, te = data.load_data_fashion_mnist(
            RESNET["batch_size"], resize=RESNET["resize"], train_size=RESNET["train_size"],
            test_size=RESNET["test_size"], seed=0, device="cpu")
        resnet = []
        for seed in RESNET["seeds"]:
            for amp in RESNET["amps"]:
                torch.manual_seed(seed)
                it.seed = seed  # the same batches for the same seed: the order is (seed, epoch)
                h = train.train_ch6(models.resnet18(), it, te, RESNET["epochs"], RESNET["lr"],
                                    "cpu", amp=amp, verbose=False)
                resnet.append(dict(seed=seed, amp=amp, test_acc=float(h.val_acc_all.iloc[-1]),
                                   train_acc=float(h.train_acc_all.iloc[-1]),
                                   seconds=float(h.seconds.sum())))
                print(resnet[-1], flush=True)
        it, te = data.load_data_fashion_mnist(
            LENET["batch_size"], resize=LENET["resize"], train_size=LENET["train_size"],
            test_size=LENET["test_size"], seed=LENET["seed"], device="cpu")
        lenet = []
        for amp in LENET["runs"]:
            torch.manual_seed(LENET["seed"])
            it.seed = LENET["seed"]
            h = train.train_ch6(models.lenet(batch_norm=LENET["batch_norm"]), it, te,
                                LENET["epochs"], LENET["lr"], "cpu", amp=amp, verbose=False)
            lenet.append(dict(amp=amp, seconds=float(h.seconds.sum()),
                              test_acc=float(h.val_acc_all.iloc[-1])))
            print("lenet", lenet[-1], flush=True)
        result.save({"native_bf16": cpu_has_native_bf16(),
                     "settings": {"resnet18": RESNET, "lenet": LENET},
                     "resnet18": resnet, "lenet": lenet}, device="cpu")
    return 0


if __name__ == "__main__":
    sys.exit(main())
