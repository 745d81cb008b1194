"""The ten Fashion-MNIST class names, in class-id order.

Kept in the edge runtime (numpy-free, import-free) because the device needs them as the fallback
for a model without a manifest; the training and conversion stages import them from here.
"""

FASHION_MNIST_LABELS = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
