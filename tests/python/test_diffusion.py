"""adm.diffusion against the reference numbers of the fact sheet (§7) and basic identities."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from adm.diffusion import GaussianDiffusion, cfg_combine, get_named_beta_schedule, space_timesteps


def test_schedules():
    lin = get_named_beta_schedule("linear", 1000)
    assert lin[0] == 1e-4 and lin[999] == pytest.approx(0.02, rel=1e-12)
    cos = get_named_beta_schedule("cosine", 1000)
    assert cos[0] == pytest.approx(4.128422482196914e-05, rel=1e-12) and cos[999] == 0.999
    assert np.cumprod(1 - cos)[999] == pytest.approx(2.4287669070348567e-09, rel=1e-9)
    with pytest.raises(ValueError, match="unknown noise schedule"):
        get_named_beta_schedule("sigmoid", 10)


def test_respacing_reference_values():
    d = GaussianDiffusion.from_config("linear", 1000, "250")
    assert d.timestep_map[:3] == [0, 4, 8] and d.timestep_map[-1] == 999
    assert d.betas[1] == pytest.approx(5.990655644756426e-04, rel=1e-12)
    assert d.posterior_log_variance_clipped[249] == pytest.approx(-2.557231152560974, rel=1e-12)
    d = GaussianDiffusion.from_config("linear", 1000, "ddim25")
    assert d.timestep_map[-1] == 960 and d.betas[24] == pytest.approx(0.5326018230995546, rel=1e-12)
    # Round-half-to-even: "25" keeps 166 and 832 (round-half-up would give 167 and 833).
    assert {166, 832} <= space_timesteps(1000, "25")
    with pytest.raises(ValueError, match="has only 15 of the 30 steps"):
        space_timesteps(30, "20,20")
    with pytest.raises(ValueError, match="integer stride"):
        space_timesteps(1000, "ddim3000")


def test_guided_steps_shift_as_the_paper_says():
    d = GaussianDiffusion.from_config("cosine", 1000, "ddim25")
    x = torch.randn(2, 3, 4, 4)
    out = torch.randn(2, 6, 4, 4) * 0.1
    t = torch.tensor([12, 12])
    g = torch.randn(2, 3, 4, 4)
    noise = torch.randn_like(x)
    plain = d.p_sample(out, x, t, noise)["sample"]
    guided = d.p_sample(out, x, t, noise, cond_grad=g)["sample"]
    var = d.p_mean_variance(out, x, t)["variance"]
    torch.testing.assert_close(guided - plain, var * g)  # Algorithm 1: mean + Sigma * grad
    a = d.ddim_sample(out, x, t, noise)["sample"]
    b = d.ddim_sample(out, x, t, noise, cond_grad=torch.zeros_like(g))["sample"]
    torch.testing.assert_close(a, b)


def test_classifier_free_guidance_combine_and_step():
    torch.manual_seed(0)
    cond, null = torch.randn(2, 6, 4, 4), torch.randn(2, 6, 4, 4)
    both = torch.cat([cond, null])
    torch.testing.assert_close(cfg_combine(both, 0.0), cond)  # w = 0: the conditional model
    torch.testing.assert_close(cfg_combine(both, -1.0)[:, :3], null[:, :3])  # w = -1: the null-label model
    g = cfg_combine(both, torch.tensor([2.0, 0.5]))
    torch.testing.assert_close(g[0, :3], cond[0, :3] + 2.0 * (cond[0, :3] - null[0, :3]))
    torch.testing.assert_close(g[1, :3], cond[1, :3] + 0.5 * (cond[1, :3] - null[1, :3]))
    torch.testing.assert_close(g[:, 3:], cond[:, 3:])  # the variance channels stay the conditional ones
    with pytest.raises(ValueError, match="2N rows"):
        cfg_combine(both[:3], 1.0)
    with pytest.raises(ValueError, match="3 entries"):
        cfg_combine(both, [1.0, 2.0, 3.0])
    d = GaussianDiffusion.from_config("cosine", 1000, "ddim25")
    x, noise, t = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4), torch.tensor([12, 12])
    for use_ddim in (False, True):
        a = d.cfg_sample(both * 0.1, x, t, noise, 3.0, use_ddim=use_ddim)["sample"]
        step = d.ddim_sample if use_ddim else d.p_sample
        b = step(cfg_combine(both * 0.1, 3.0), x, t, noise)["sample"]
        torch.testing.assert_close(a, b)
