"""Run under torchrun by tests/test_distributed.py: a few data-parallel steps on real data.

    torchrun --nproc_per_node=2 tests/helpers/ddp_steps.py OUT.pt {bn|plain}

Process 0 saves the final weights and history to OUT.pt.
"""
import sys

import torch

from d2lnotes import data, dist, models, train

out, kind = sys.argv[1], sys.argv[2]
rank, world = dist.init_distributed("cpu")
loaders = data.load_data_fashion_mnist(128, train_size=512, test_size=256, device="cpu", seed=0,
                                       rank=rank, world_size=world)
torch.manual_seed(0)
net = models.lenet(batch_norm=kind == "bn")
history = train.train_ch6(net, *loaders, 1, 0.5, "cpu", verbose=False, amp=False)
if rank == 0:
    torch.save({"weights": net.state_dict(), "history": history.to_dict("list"),
                "world_size": world}, out)
torch.distributed.destroy_process_group()
