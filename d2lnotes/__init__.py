"""d2lnotes: the helper package of the course book on batch normalization and ResNet.

Small and flat, one module per concern: ``settings`` (run profiles), ``data`` (Fashion-MNIST),
``models`` (the seed's ResNet-18), ``plot`` (figures). The names follow the seed and d2l
(``Residual``, ``resnet_block``, ``load_data_fashion_mnist``) so a d2l reader feels at home.
"""
from .settings import PROFILES, Profile, get_profile

__version__ = "0.1.0"
__all__ = ["PROFILES", "Profile", "get_profile", "__version__"]
