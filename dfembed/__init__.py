"""dfembed: deepfake face detection by metric learning.

Importing the package is cheap: TensorFlow, Keras and the face detector are loaded
only by the functions that need them.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
