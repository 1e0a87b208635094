"""d2lnotes: the helper package of the course book on batch normalization and ResNet.

Small and flat, one module per concern, imported in this order (each one uses only those
before it): ``device`` (where and in which precision), ``dist`` (data-parallel processes),
``settings`` (run profiles), ``stats`` (noise bands for every verdict), ``data``
(Fashion-MNIST loaders), ``bn`` (batch normalization from scratch), ``norm`` (layer and group
normalization from scratch), ``models`` (ResNet-18, LeNet, MLPs), ``recipe`` (optimiser, schedules,
augmentation), ``runs`` (records, checkpoints, provenance), ``train`` (``train_ch6``), then
``cli`` (``python -m d2lnotes train``) and ``tools`` (the notes' own ``tools`` module, name for
name). ``plot`` and ``widgets`` draw figures. The names follow the notes and d2l
(``Residual``, ``resnet_block``, ``train_ch6``, ``try_gpu``) so a d2l reader feels at home.
"""
from .settings import PROFILES, Profile, get_profile

__version__ = "0.1.0"
__all__ = ["PROFILES", "Profile", "get_profile", "__version__"]
