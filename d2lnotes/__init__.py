"""d2lnotes: the helper package of the course book on batch normalization and ResNet.

Small and flat, one module per concern: ``settings`` (run profiles), ``data`` (Fashion-MNIST),
``bn`` (batch normalization from scratch), ``models`` (ResNet-18, LeNet, MLPs), ``train``
(``train_ch6`` and friends), ``plot`` (figures), ``widgets`` (the interactive BN explorer). The names follow the seed and d2l
(``Residual``, ``resnet_block``, ``load_data_fashion_mnist``) so a d2l reader feels at home.
"""
from .settings import PROFILES, Profile, get_profile

__version__ = "0.1.0"
__all__ = ["PROFILES", "Profile", "get_profile", "__version__"]
