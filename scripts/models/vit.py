"""Vision Transformer on ``nn.TransformerEncoder``: patch embedding conv, class token,
learned position embedding, pre-norm encoder layers, classification head.

``ViT(image_size=224, patch=16, dim=768, depth=12, heads=12, mlp=3072)`` is ViT-B/16;
``ViT(image_size=8, patch=4, dim=8, depth=2, heads=2, mlp=16)`` a small one.
"""

import torch
import torch.nn as nn


class ViT(nn.Module):
    def __init__(self, image_size=224, patch=16, dim=768, depth=12, heads=12, mlp=3072,
                 num_classes=1000, in_channels=3, dropout=0.0):
        super().__init__()
        num_patches = (image_size // patch) ** 2
        self.patch_embed = nn.Conv2d(in_channels, dim, kernel_size=patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, dim))
        nn.init.normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=mlp, dropout=dropout,
                                           activation="gelu", batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=depth,
                                             enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.patch_embed(x)                # B, dim, H/p, W/p
        x = x.flatten(2).transpose(1, 2)       # B, patches, dim
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat((cls, x), dim=1) + self.pos_embed
        x = self.encoder(x)
        return self.head(self.norm(x[:, 0]))
