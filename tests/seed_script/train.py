# The notes' training script, verbatim from the seed (section 3.3).
import torch
from torch import nn

import model
import tools
from model import net
from d2l import torch as d2l
import pandas as pd
from tools import *
import torchvision

if __name__ == "__main__":
    lr, num_epochs, batch_size = 0.05, 10, 256
    train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size=batch_size,resize=224)
    conv_arch = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))
    net = net
    train_process = train_ch6(net,train_iter,test_iter,num_epochs,lr,tools.try_gpu())
    tools.matplot_acc_loss(train_process)
