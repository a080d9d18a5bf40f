"""The oblique-photography encoder (torch): n views + cameras -> view tokens + per-pixel plane-sweep cost.

Imported only by oblique.Oblique.build_encoder (and the plane-sweep baseline): reading stays free of torch.

What it does (AllSpark's "a ViT per view, concatenated" for the LLM, and an Ada-MVS-style coarse cost
volume for the depth head; made small for a CPU):
1. tokens: every view (resized to `vit_size` x `vit_size`) goes through one small ViT (weights shared by
   the views; the paper's has 12 layers, here `depth`, 2 by default), plus a learned embedding of the
   view's slot (0 = the reference view); the views' tokens are concatenated -> what the bridge reads;
2. features: a small CNN (stride `stride`) gives every view a feature map of `features` channels;
3. plane sweep: for `hypotheses` depths spread evenly over the reference view's depth range, each source
   view's features are warped into the reference view by the homography of that fronto-parallel plane
   (differentiable bilinear grid_sample; `warp_views`); the cost is the variance over the views of every
   feature channel (MVSNet / Ada-MVS), counting only the views that see the point (in the image, in front
   of the camera);
4. regularisation: the negative mean variance (a photometric prior: low variance = likely depth), plus a
   small 3D CNN over (depth, y, x) -> one logit per hypothesis and pixel, bilinearly upsampled to the
   image's size;
5. elements (one per reference pixel, row-major): [hypothesis logits (D), reference features (F),
   depth min, depth max]: the depth head (heads.DepthHead) refines the logits with the LLM's hidden
   states and takes the soft-argmin over the hypotheses.

forward(images (B, V, C, H, W) normalised, K (B, V, 3, 3) intrinsics in pixels, rel (B, V, 4, 4) each
view's pose relative to the reference camera (x_view = rel @ x_ref; rel[:, 0] = identity), depth_range
(B, 2)) -> (tokens (B, V * (1 + n_patches), dim), elements (B, H * W, D + F + 2)).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .encoders import ViTEncoder


def hypotheses_of(depth_range: torch.Tensor, d: int) -> torch.Tensor:
    """(B, 2) depth ranges -> (B, d) depths spread evenly from min to max (both included)."""
    lo, hi = depth_range[:, :1], depth_range[:, 1:2]
    return lo + (hi - lo) * torch.linspace(0, 1, d, device=depth_range.device, dtype=depth_range.dtype)


def pixel_grid(out_hw, full_hw, device, dtype) -> torch.Tensor:
    """(3, Ho * Wo) homogeneous full-resolution pixel coordinates (x, y, 1) of the centres of an Ho x Wo
    grid covering a full_hw image (pixel centres at integers, as intrinsics count them)."""
    (ho, wo), (hf, wf) = out_hw, full_hw
    ys = (torch.arange(ho, device=device, dtype=dtype) + 0.5) * (hf / ho) - 0.5
    xs = (torch.arange(wo, device=device, dtype=dtype) + 0.5) * (wf / wo) - 0.5
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1), torch.ones_like(xx).reshape(-1)])


def warp_views(src: torch.Tensor, k_ref: torch.Tensor, k_src: torch.Tensor, rel: torch.Tensor,
               depths: torch.Tensor, out_hw, full_hw):
    """A source view's map warped into the reference view at given depths (plane-sweep homographies).

    src (B, C, Hs, Ws): the source view's map covering its whole image (any stride); k_ref, k_src (B, 3, 3)
    intrinsics of the full-resolution images (full_hw = (H, W)); rel (B, 4, 4) the source camera's pose
    relative to the reference camera; depths (B, D) fronto-parallel planes, or (B, D, Ho, Wo) a depth per
    reference pixel. Returns (warped (B, C, D, Ho, Wo), seen (B, 1, D, Ho, Wo): 1 where the point projects
    inside the source image in front of its camera)."""
    B, C = src.shape[:2]
    ho, wo = out_hw
    hf, wf = full_hw
    pix = pixel_grid(out_hw, full_hw, src.device, k_ref.dtype)  # (3, N)
    rays = torch.linalg.solve(k_ref, pix.expand(B, -1, -1))  # (B, 3, N): z = 1
    if depths.dim() == 2:
        d = depths[:, None, :, None]  # (B, 1, D, 1)
    else:
        d = depths.reshape(B, 1, depths.shape[1], ho * wo)
    pts = rays[:, :, None, :] * d  # (B, 3, D, N)
    D = pts.shape[2]
    pts = torch.einsum("bij,bjdn->bidn", rel[:, :3, :3], pts) + rel[:, :3, 3, None, None]
    proj = torch.einsum("bij,bjdn->bidn", k_src, pts)
    z = proj[:, 2]
    zs = torch.where(z.abs() < 1e-6, torch.full_like(z, 1e-6), z)
    u, v = proj[:, 0] / zs, proj[:, 1] / zs
    gx = (u + 0.5) / wf * 2 - 1  # grid_sample, align_corners=False: -1 / +1 are the image's outer edges
    gy = (v + 0.5) / hf * 2 - 1
    seen = (z > 1e-6) & (gx.abs() <= 1) & (gy.abs() <= 1)
    grid = torch.stack([gx, gy], -1).clamp(-2, 2).reshape(B, D * ho, wo, 2).to(src.dtype)
    out = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.reshape(B, C, D, ho, wo), seen.reshape(B, 1, D, ho, wo).to(src.dtype)


def variance_cost(feats: torch.Tensor, K: torch.Tensor, rel: torch.Tensor, depths: torch.Tensor, full_hw):
    """feats (B, V, C, h, w) (view 0 = reference) -> (B, C, D, h, w) variance over the views that see each
    point, and (B, 1, D, h, w) how many source views see it."""
    B, V, C, h, w = feats.shape
    ref = feats[:, 0, :, None].expand(-1, -1, depths.shape[1], -1, -1)
    s1, s2 = ref.clone(), ref * ref
    count = torch.ones_like(ref[:, :1])
    for v in range(1, V):
        warped, seen = warp_views(feats[:, v], K[:, 0], K[:, v], rel[:, v], depths, (h, w), full_hw)
        warped = warped * seen
        s1 = s1 + warped
        s2 = s2 + warped * warped
        count = count + seen
    mean = s1 / count
    return (s2 / count - mean * mean).clamp_min(0), count - 1


class ObliqueEncoder(nn.Module):
    """See the module docstring. Attribute names are the state-dict keys bundles load by: keep them."""

    def __init__(self, views: int, bands: int, height: int, width: int, hypotheses: int = 32, dim: int = 64,
                 depth: int = 2, heads: int = 4, patch: int = 8, vit_size: int = 32, features: int = 16,
                 stride: int = 2, mlp_ratio: float = 2.0, dropout: float = 0.0):
        super().__init__()
        if views < 2:
            raise ValueError("the oblique encoder needs at least 2 views")
        self.views, self.bands, self.height, self.width = views, bands, height, width
        self.hypotheses, self.features, self.stride, self.vit_size = hypotheses, features, stride, vit_size
        self.vit = ViTEncoder(bands, vit_size, patch, dim, depth, heads, mlp_ratio, dropout, with_mask=False)
        self.view_embed = nn.Parameter(torch.zeros(views, dim))
        nn.init.trunc_normal_(self.view_embed, std=0.02)
        f = features
        self.feat = nn.Sequential(
            nn.Conv2d(bands, f, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(f), nn.ReLU(inplace=True),
            nn.Conv2d(f, f, 3, padding=1, bias=False), nn.BatchNorm2d(f), nn.ReLU(inplace=True),
            nn.Conv2d(f, f, 3, padding=1))
        self.reg = nn.Sequential(nn.Conv3d(f + 1, 8, 3, padding=1), nn.ReLU(inplace=True), nn.Conv3d(8, 1, 3, padding=1))
        self.prior = nn.Parameter(torch.tensor(1.0))
        self.token_norm = nn.LayerNorm(dim)
        self.element_dim = hypotheses + features + 2

    def forward(self, images, K, rel, depth_range):
        B, V, C, H, W = images.shape
        x = images.reshape(B * V, C, H, W)
        small = x if (H, W) == (self.vit_size, self.vit_size) else F.interpolate(
            x, size=(self.vit_size, self.vit_size), mode="bilinear", align_corners=False)
        tok = self.vit(small)
        tok = tok.reshape(B, V, tok.shape[1], tok.shape[2]) + self.view_embed[None, :V, None].to(tok.dtype)
        tokens = self.token_norm(tok.reshape(B, -1, tok.shape[-1]))
        feats = self.feat(x)
        feats = feats.reshape(B, V, *feats.shape[1:])
        depths = hypotheses_of(depth_range.float(), self.hypotheses)
        cost, seen = variance_cost(feats.float(), K.float(), rel.float(), depths, (H, W))
        seen = seen / max(1, V - 1)
        logits = -self.prior * cost.mean(1) + self.reg(torch.cat([cost, seen], 1).to(feats.dtype)).squeeze(1)
        logits = F.interpolate(logits, size=(H, W), mode="bilinear", align_corners=False)  # (B, D, H, W)
        ref = F.interpolate(feats[:, 0], size=(H, W), mode="bilinear", align_corners=False)
        rng = depth_range[:, :, None, None].to(logits.dtype).expand(B, 2, H, W)
        elements = torch.cat([logits, ref.to(logits.dtype), rng], 1).flatten(2).transpose(1, 2)
        return tokens, elements
