"""Fashion-MNIST CNN study: data, models, training, run cache, metrics and plots."""

__version__ = "0.1.0"
