"""Gaussian diffusion as in Ho et al. / Nichol & Dhariwal / Dhariwal & Nichol: schedules, respacing,
the hybrid training loss (MSE on eps + VLB on the learned variance) and single sampling steps.

Schedules are float64 numpy (for accuracy, as the reference does); per-step tensors are float32.
Sampling steps take the model output as data (not a model), so the same functions serve training
previews, fixtures and tests. `t` always holds RESPACED indices i; networks must be called with
`timestep_map[i]` (the original timestep), which `model_timesteps` gives.
"""
from __future__ import annotations

import math
from typing import Dict, Iterable, Optional

import numpy as np
import torch

from .respace import space_timesteps


def get_named_beta_schedule(name: str, num_diffusion_timesteps: int) -> np.ndarray:
    if name == "linear":
        scale = 1000 / num_diffusion_timesteps
        return np.linspace(scale * 0.0001, scale * 0.02, num_diffusion_timesteps, dtype=np.float64)
    if name == "cosine":
        def alpha_bar(t):
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
        T = num_diffusion_timesteps
        return np.array([min(1 - alpha_bar((i + 1) / T) / alpha_bar(i / T), 0.999) for i in range(T)], dtype=np.float64)
    raise ValueError(f"unknown noise schedule {name!r} (expected 'linear' or 'cosine')")


def _extract(arr: np.ndarray, t: torch.Tensor, shape) -> torch.Tensor:
    out = torch.from_numpy(arr).to(t.device)[t].float()
    return out.reshape(-1, *([1] * (len(shape) - 1))).expand(shape)


def normal_kl(mean1, logvar1, mean2, logvar2):
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def _approx_std_normal_cdf(x):
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def discretized_gaussian_log_likelihood(x, means, log_scales):
    """Log-likelihood of 8-bit data in [-1, 1] under a Gaussian discretized to bins of width 2/255."""
    centered = x - means
    inv_stdv = torch.exp(-log_scales)
    cdf_plus = _approx_std_normal_cdf(inv_stdv * (centered + 1.0 / 255.0))
    cdf_min = _approx_std_normal_cdf(inv_stdv * (centered - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    cdf_delta = cdf_plus - cdf_min
    return torch.where(x < -0.999, log_cdf_plus,
                       torch.where(x > 0.999, log_one_minus_cdf_min, torch.log(cdf_delta.clamp(min=1e-12))))


def mean_flat(x):
    return x.mean(dim=list(range(1, x.ndim)))


def cfg_combine(model_output: torch.Tensor, cfg_scale, channels: int = 3) -> torch.Tensor:
    """Classifier-free guidance (Ho & Salimans 2022) on ONE U-Net batch of 2N rows: the N conditional outputs
    eps(x_t, y), then the N null-label outputs eps(x_t, null) of the same x_t. Returns [N, C, H, W] with
    eps^ = eps(x_t, y) + w * (eps(x_t, y) - eps(x_t, null)) on the first `channels` channels (eps, or x_0 for a
    START_X model) and the conditional branch's remaining channels (the learned-range v) unchanged.
    `cfg_scale` is w: one number for the batch or one per sample ([N])."""
    rows = model_output.shape[0]
    if rows % 2:
        raise ValueError(f"classifier-free guidance needs 2N rows (conditional, then null label), got {rows}")
    n = rows // 2
    cond, uncond = model_output[:n], model_output[n:]
    w = torch.as_tensor(cfg_scale, dtype=model_output.dtype).reshape(-1, 1, 1, 1)
    if w.shape[0] not in (1, n):
        raise ValueError(f"cfg_scale has {w.shape[0]} entries for a batch of {n}")
    guided = cond[:, :channels] + w * (cond[:, :channels] - uncond[:, :channels])
    return torch.cat([guided, cond[:, channels:]], dim=1)


class GaussianDiffusion:
    """A (possibly respaced) diffusion process. `use_timesteps` keeps only those original steps."""

    def __init__(self, betas: np.ndarray, learn_sigma: bool = True, predict_xstart: bool = False,
                 use_timesteps: Optional[Iterable[int]] = None):
        betas = np.asarray(betas, dtype=np.float64)
        self.original_num_steps = len(betas)
        if use_timesteps is not None:
            keep = set(use_timesteps)
            alphas_cumprod = np.cumprod(1.0 - betas)
            last, new_betas, self.timestep_map = 1.0, [], []
            for i, ac in enumerate(alphas_cumprod):
                if i in keep:
                    new_betas.append(1 - ac / last)
                    last = ac
                    self.timestep_map.append(i)
            betas = np.array(new_betas, dtype=np.float64)
        else:
            self.timestep_map = list(range(len(betas)))
        self.learn_sigma = learn_sigma
        self.predict_xstart = predict_xstart
        self.betas = betas
        self.num_timesteps = len(betas)
        alphas = 1.0 - betas
        self.alphas_cumprod = np.cumprod(alphas)
        self.alphas_cumprod_prev = np.append(1.0, self.alphas_cumprod[:-1])
        self.alphas_cumprod_next = np.append(self.alphas_cumprod[1:], 0.0)
        self.sqrt_alphas_cumprod = np.sqrt(self.alphas_cumprod)
        self.sqrt_one_minus_alphas_cumprod = np.sqrt(1.0 - self.alphas_cumprod)
        self.sqrt_recip_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod)
        self.sqrt_recipm1_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod - 1)
        self.posterior_variance = betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        # The posterior variance is 0 at the start of the chain: clip its log to the next value.
        self.posterior_log_variance_clipped = np.log(np.append(self.posterior_variance[1], self.posterior_variance[1:]))
        self.posterior_mean_coef1 = betas * np.sqrt(self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        self.posterior_mean_coef2 = (1.0 - self.alphas_cumprod_prev) * np.sqrt(alphas) / (1.0 - self.alphas_cumprod)

    @classmethod
    def from_config(cls, noise_schedule: str, diffusion_steps: int, timestep_respacing: str = "",
                    learn_sigma: bool = True, predict_xstart: bool = False) -> "GaussianDiffusion":
        betas = get_named_beta_schedule(noise_schedule, diffusion_steps)
        use = space_timesteps(diffusion_steps, timestep_respacing) if timestep_respacing else None
        return cls(betas, learn_sigma=learn_sigma, predict_xstart=predict_xstart, use_timesteps=use)

    def model_timesteps(self, t: torch.Tensor) -> torch.Tensor:
        """Respaced indices -> the original timesteps the networks are trained on."""
        return torch.tensor(self.timestep_map, device=t.device, dtype=torch.long)[t]

    # -- forward process --------------------------------------------------------------------
    def q_sample(self, x_start, t, noise):
        return (_extract(self.sqrt_alphas_cumprod, t, x_start.shape) * x_start
                + _extract(self.sqrt_one_minus_alphas_cumprod, t, x_start.shape) * noise)

    def q_posterior_mean_variance(self, x_start, x_t, t):
        mean = (_extract(self.posterior_mean_coef1, t, x_t.shape) * x_start
                + _extract(self.posterior_mean_coef2, t, x_t.shape) * x_t)
        return mean, _extract(self.posterior_variance, t, x_t.shape), _extract(self.posterior_log_variance_clipped, t, x_t.shape)

    def _predict_xstart_from_eps(self, x_t, t, eps):
        return _extract(self.sqrt_recip_alphas_cumprod, t, x_t.shape) * x_t - _extract(self.sqrt_recipm1_alphas_cumprod, t, x_t.shape) * eps

    def _predict_eps_from_xstart(self, x_t, t, pred_xstart):
        return ((_extract(self.sqrt_recip_alphas_cumprod, t, x_t.shape) * x_t - pred_xstart)
                / _extract(self.sqrt_recipm1_alphas_cumprod, t, x_t.shape))

    # -- reverse process ---------------------------------------------------------------------
    def p_mean_variance(self, model_output, x, t, clip_denoised: bool = True) -> Dict[str, torch.Tensor]:
        """Mean/variance of p(x_{t-1} | x_t) from the network output (learned range or fixed small)."""
        C = x.shape[1]
        if self.learn_sigma:
            assert model_output.shape[1] == 2 * C, model_output.shape
            model_output, v = model_output[:, :C], model_output[:, C:]
            min_log = _extract(self.posterior_log_variance_clipped, t, x.shape)
            max_log = _extract(np.log(self.betas), t, x.shape)
            frac = (v + 1) / 2  # v in [-1, 1] interpolates log beta~ .. log beta
            log_variance = frac * max_log + (1 - frac) * min_log
            variance = torch.exp(log_variance)
        else:
            variance = _extract(self.posterior_variance, t, x.shape)
            log_variance = _extract(self.posterior_log_variance_clipped, t, x.shape)
        pred_xstart = model_output if self.predict_xstart else self._predict_xstart_from_eps(x, t, model_output)
        if clip_denoised:
            pred_xstart = pred_xstart.clamp(-1, 1)
        mean, _, _ = self.q_posterior_mean_variance(pred_xstart, x, t)
        return {"mean": mean, "variance": variance, "log_variance": log_variance, "pred_xstart": pred_xstart}

    def condition_mean(self, cond_grad, p_mean_var):
        """Guided mean mu + Sigma * grad (Algorithm 1); grad already holds s * grad log p(y|x_t)."""
        return p_mean_var["mean"].float() + p_mean_var["variance"] * cond_grad.float()

    def condition_score(self, cond_grad, p_mean_var, x, t):
        """Guided eps - sqrt(1 - abar) * grad (Algorithm 2); returns the updated dict."""
        alpha_bar = _extract(self.alphas_cumprod, t, x.shape)
        eps = self._predict_eps_from_xstart(x, t, p_mean_var["pred_xstart"])
        eps = eps - (1 - alpha_bar).sqrt() * cond_grad
        out = dict(p_mean_var)
        out["pred_xstart"] = self._predict_xstart_from_eps(x, t, eps)
        out["mean"], _, _ = self.q_posterior_mean_variance(out["pred_xstart"], x, t)
        return out

    def p_sample(self, model_output, x, t, noise, cond_grad=None, clip_denoised: bool = True):
        """Ancestral step. The gradient is taken at x_t (the official code's choice, issue #51)."""
        out = self.p_mean_variance(model_output, x, t, clip_denoised)
        nonzero = (t != 0).float().view(-1, *([1] * (x.ndim - 1)))
        mean = self.condition_mean(cond_grad, out) if cond_grad is not None else out["mean"]
        return {"sample": mean + nonzero * torch.exp(0.5 * out["log_variance"]) * noise, "pred_xstart": out["pred_xstart"]}

    def ddim_sample(self, model_output, x, t, noise, eta: float = 0.0, cond_grad=None, clip_denoised: bool = True):
        out = self.p_mean_variance(model_output, x, t, clip_denoised)
        if cond_grad is not None:
            out = self.condition_score(cond_grad, out, x, t)
        eps = self._predict_eps_from_xstart(x, t, out["pred_xstart"])
        alpha_bar = _extract(self.alphas_cumprod, t, x.shape)
        alpha_bar_prev = _extract(self.alphas_cumprod_prev, t, x.shape)
        sigma = eta * torch.sqrt((1 - alpha_bar_prev) / (1 - alpha_bar)) * torch.sqrt(1 - alpha_bar / alpha_bar_prev)
        mean_pred = out["pred_xstart"] * torch.sqrt(alpha_bar_prev) + torch.sqrt(1 - alpha_bar_prev - sigma ** 2) * eps
        nonzero = (t != 0).float().view(-1, *([1] * (x.ndim - 1)))
        return {"sample": mean_pred + nonzero * sigma * noise, "pred_xstart": out["pred_xstart"]}

    def cfg_sample(self, model_output_2n, x, t, noise, cfg_scale, use_ddim: bool = False, eta: float = 0.0,
                   cond_grad=None, clip_denoised: bool = True):
        """One step with classifier-free guidance: `model_output_2n` is the U-Net on [x; x] with [y; null] labels
        (cfg_combine), then the usual ancestral or DDIM step; `cond_grad` adds classifier guidance on top (the
        "both" mode: the classifier gradient shifts the mean/score computed from the guided eps)."""
        mo = cfg_combine(model_output_2n, cfg_scale, x.shape[1])
        if use_ddim:
            return self.ddim_sample(mo, x, t, noise, eta=eta, cond_grad=cond_grad, clip_denoised=clip_denoised)
        return self.p_sample(mo, x, t, noise, cond_grad=cond_grad, clip_denoised=clip_denoised)

    # -- training ----------------------------------------------------------------------------
    def _vb_terms_bpd(self, model_output, x_start, x_t, t):
        """The VLB term L_{t-1} (or -log p(x0|x1) at t=0) in bits per dim."""
        true_mean, _, true_log_var = self.q_posterior_mean_variance(x_start, x_t, t)
        out = self.p_mean_variance(model_output, x_t, t, clip_denoised=False)
        kl = mean_flat(normal_kl(true_mean, true_log_var, out["mean"], out["log_variance"])) / math.log(2.0)
        nll = -mean_flat(discretized_gaussian_log_likelihood(x_start, out["mean"], 0.5 * out["log_variance"])) / math.log(2.0)
        return torch.where(t == 0, nll, kl)

    def min_snr_weight(self, t: torch.Tensor, gamma: float) -> torch.Tensor:
        """Min-SNR-gamma weight of the eps MSE (Hang et al. 2023): min(SNR_t, gamma) / SNR_t.

        For eps prediction the MSE already carries a factor SNR_t relative to the x0 error, so this
        caps each timestep's x0-space weight at gamma: the nearly clean steps stop dominating.
        """
        abar = torch.as_tensor(self.alphas_cumprod, dtype=torch.float64, device=t.device)[t]
        snr = abar / (1.0 - abar)
        return (torch.clamp(snr, max=gamma) / snr).float()

    def training_losses(self, model, x_start, t, model_kwargs=None, noise=None,
                        min_snr_gamma: Optional[float] = None) -> Dict[str, torch.Tensor]:
        """Hybrid loss: MSE on eps (or x0) + VLB for the learned variance (mean stop-gradient).

        min_snr_gamma reweights the eps MSE only; the VLB term that trains the variance is unchanged.
        """
        model_kwargs = model_kwargs or {}
        noise = torch.randn_like(x_start) if noise is None else noise
        x_t = self.q_sample(x_start, t, noise)
        model_output = model(x_t, self.model_timesteps(t), **model_kwargs)
        terms = {}
        C = x_start.shape[1]
        if self.learn_sigma:
            frozen = torch.cat([model_output[:, :C].detach(), model_output[:, C:]], dim=1)
            # The reference scales the VB term by T/1000 only when rescale_learned_sigmas; T=1000 here.
            terms["vb"] = self._vb_terms_bpd(frozen, x_start, x_t, t) * (self.num_timesteps / 1000.0)
        target = x_start if self.predict_xstart else noise
        terms["mse"] = mean_flat((target - model_output[:, :C]) ** 2)
        mse = terms["mse"]
        if min_snr_gamma is not None:
            if self.predict_xstart:
                raise ValueError("min_snr_gamma is defined here for eps prediction only")
            mse = mse * self.min_snr_weight(t, min_snr_gamma)
        terms["loss"] = mse + terms.get("vb", 0.0)
        return terms
