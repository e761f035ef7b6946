"""valley's architectures as plain PyTorch modules.

A valley checkpoint (safetensors) loads into these with ``load_state_dict(strict=True)``:
the parameter names and tensor layouts are the same. ``build(config)`` takes the model
config valley stores in the checkpoint metadata (key ``model``)::

    from safetensors.torch import load_file
    from safetensors import safe_open
    import json, valley_models
    meta = safe_open("final.safetensors", "pt").metadata()
    net = valley_models.build(json.loads(meta["model"]))
    net.load_state_dict(load_file("final.safetensors"))
"""

import torch
from torch import nn

VGG_CFG = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
CNN_CFG = [32, 32, "M", 64, 64, "M"]


def scaled(c, width):
    return max(1, round(c * width))


class Flat(nn.Module):
    """MLP and linear softmax model: hidden Linear+ReLU layers in ``features``, then ``classifier``."""

    def __init__(self, flat, hidden, classes, bias=True):
        super().__init__()
        layers = []
        for h in hidden:
            layers += [nn.Linear(flat, h), nn.ReLU()]
            flat = h
        if layers:
            self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(flat, classes, bias=bias)

    def forward(self, x):
        x = x.flatten(1)
        if hasattr(self, "features"):
            x = self.features(x)
        return self.classifier(x)


class VGG(nn.Module):
    """VGG (and the small CNN): conv(+BN)+ReLU blocks, max-pools skipped once the map is 1x1."""

    def __init__(self, cfg, bn, in_ch, size, classes, width, hidden):
        super().__init__()
        layers, ch = [], in_ch
        for v in cfg:
            if v == "M":
                if size >= 2:
                    layers.append(nn.MaxPool2d(2))
                    size //= 2
                continue
            out = scaled(v, width)
            layers.append(nn.Conv2d(ch, out, 3, padding=1))
            if bn:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.ReLU())
            ch = out
        self.features = nn.Sequential(*layers)
        clf, flat = [], ch * size * size
        for h in hidden:
            h = scaled(h, width)
            clf += [nn.Linear(flat, h), nn.ReLU()]
            flat = h
        clf.append(nn.Linear(flat, classes))
        self.classifier = nn.Sequential(*clf)
        if not bn:
            # As valley: He's init, without which a plain 11-layer ReLU net stays at chance.
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                    nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        s = x if self.downsample is None else self.downsample(x)
        return torch.relu(h + s)


class ResNet(nn.Module):
    """CIFAR-style ResNet: 3x3 stem without max-pool, basic blocks, global average pool, ``fc``."""

    def __init__(self, in_ch, classes, width, stem, stages, blocks):
        super().__init__()
        stem = scaled(stem, width)
        self.conv1 = nn.Conv2d(in_ch, stem, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        cin = stem
        for i, (w, stride) in enumerate(stages):
            cout = scaled(w, width)
            blks = []
            for b in range(blocks):
                blks.append(BasicBlock(cin, cout, stride if b == 0 else 1))
                cin = cout
            setattr(self, f"layer{i + 1}", nn.Sequential(*blks))
        self.n_stages = len(stages)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        for i in range(self.n_stages):
            h = getattr(self, f"layer{i + 1}")(h)
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(h, 1), 1))


def build(config):
    """The PyTorch module for a valley model config (the checkpoint's ``model`` metadata)."""
    arch = config["arch"]
    c, s, k, w = config["in_channels"], config["image_size"], config["num_classes"], config["width"]
    if arch == "linear":
        return Flat(c * s * s, [], k, bias=False)
    if arch == "mlp":
        return Flat(c * s * s, [scaled(h, w) for h in config["hidden"]], k)
    if arch == "cnn":
        return VGG(CNN_CFG, True, c, s, k, w, [256])
    if arch == "resnet20":
        return ResNet(c, k, w, 16, [(16, 1), (32, 2), (64, 2)], 3)
    if arch == "resnet18":
        return ResNet(c, k, w, 64, [(64, 1), (128, 2), (256, 2), (512, 2)], 2)
    if isinstance(arch, dict) and "vgg" in arch:
        return VGG(VGG_CFG[arch["vgg"]["depth"]], arch["vgg"]["bn"], c, s, k, w, [512, 512])
    raise ValueError(f"unknown arch {arch!r}")
