"""The long-tail world's extra sound classes: 34 procedural recipes that grow the tiny world
from 14 classes to 48, six in each of eight families (animals, vehicles, tools, water,
household, instruments, alarms, people), so a benchmark can probe rare classes and near
neighbours inside a family (meow vs bark, drill vs vacuum, speech vs babble), not only a few
far-apart sounds. Same contract as :mod:`mats_tiny.world`: ``_p_<name>(rng, pitch)`` draws a
clip's timbre, ``_s_<name>(p, n, rng)`` renders one event (countable classes, ``p["dur"]``
seconds) or a whole texture of n samples, numpy only.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np

# name -> (family, countable, pitched)
NEW_CLASSES: dict[str, tuple[str, bool, bool]] = {
    "meow": ("animals", True, True),
    "crow": ("animals", True, False),
    "frog": ("animals", True, False),
    "cricket": ("animals", False, False),
    "horn": ("vehicles", True, True),
    "train": ("vehicles", False, False),
    "motorcycle": ("vehicles", False, False),
    "airplane": ("vehicles", False, False),
    "helicopter": ("vehicles", False, False),
    "drill": ("tools", False, True),
    "saw": ("tools", False, False),
    "hammer": ("tools", True, False),
    "typing": ("tools", False, False),
    "sanding": ("tools", False, False),
    "ratchet": ("tools", False, False),
    "stream": ("water", False, False),
    "waves": ("water", False, False),
    "splash": ("water", True, False),
    "knock": ("household", True, False),
    "footsteps": ("household", True, False),
    "vacuum": ("household", False, False),
    "doorbell": ("household", True, True),
    "kettle": ("household", False, True),
    "piano": ("instruments", True, True),
    "guitar": ("instruments", True, True),
    "flute": ("instruments", True, True),
    "violin": ("instruments", True, True),
    "buzzer": ("alarms", True, False),
    "phone": ("alarms", True, False),
    "whistle": ("alarms", True, True),
    "laugh": ("people", True, False),
    "cough": ("people", True, False),
    "speech": ("people", False, False),
    "snore": ("people", False, False),
}
TAU = 2.0 * np.pi
_TS = 4096  # wavetable size (a power of two)
_SMOOTH = np.unique([2**a * 3**b * 5**c for a in range(22) for b in range(14) for c in range(10)])


# ---------------------------------------------------------------------------------------
# Local helpers


def _fast(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (and >= 2048, for 8-Hz bins in a short event's noise): an FFT at an
    awkward length (a large prime factor) is ~10x slower."""
    return int(_SMOOTH[np.searchsorted(_SMOOTH, max(n, 2048))])


def _cn(rng, n: int, lo=None, hi=None, slope=0.0, peaks=(), q=3.0, w=1.0) -> np.ndarray:
    """Unit-RMS coloured noise: band lo-hi plus w * resonant peaks, drawn at an FFT-friendly length."""
    m = _fast(n)
    mask = (_band_mask(m, lo, hi, slope) if lo else 0.0) + (w * _peak_mask(m, peaks, q) if len(peaks) else 0.0)
    return _noise(rng, m, mask)[:n]


@lru_cache(maxsize=16)
def _basis(h: int) -> np.ndarray:
    return np.sin(np.arange(1, h + 1)[:, None] * (np.arange(_TS + 1) * (TAU / _TS)))


def _wave(phase: np.ndarray, amps, fmax: float = 0.0):
    """world._harmonics with a cached sine basis and np.take lookups (same output, 2-3x faster);
    2-D ``amps`` [k, h] gives a list of k signals that share the phase lookup."""
    a = np.atleast_2d(np.asarray(amps, dtype=np.float64))
    if fmax:
        a = np.where(np.arange(1, a.shape[1] + 1) * fmax < 7800, a, 0.0)
    pos = phase * (_TS / TAU)
    i = pos.astype(np.int64)
    frac = pos - i
    i &= _TS - 1
    out = [np.take(tab, i) + np.take(np.diff(tab), i) * frac for tab in a @ _basis(a.shape[1])]
    return out if np.ndim(amps) == 2 else out[0]


def _scatter(n: int, starts, grains: np.ndarray) -> np.ndarray:
    """Overlap-add grains [k, L] at sample offsets ``starts`` (what falls past n is dropped)."""
    idx = np.asarray(starts, dtype=np.int64)[:, None] + np.arange(grains.shape[1])
    keep = (idx >= 0) & (idx < n)
    return np.bincount(idx[keep], grains[keep], minlength=n)[:n]


def _ring(freqs, taus, length: int) -> np.ndarray:
    """Damped sines, one per entry of ``freqs`` (any shape), ``length`` samples on a new last axis."""
    tl = _t(length)
    return np.sin(TAU * np.asarray(freqs)[..., None] * tl) * np.exp(-tl / np.asarray(taus)[..., None])


def _bump(f, centers, q: float = 3.0) -> np.ndarray:
    """Formant-like gain at frequencies f: Gaussian bumps in log-frequency."""
    lf = np.log2(np.maximum(f, 1.0))
    return sum(np.exp(-0.5 * ((lf - np.log2(c)) * q) ** 2) for c in centers)


def _cycles(phase: np.ndarray, rng, spread: float) -> np.ndarray:
    """A random log-normal gain per oscillator cycle: uneven firing, flutter, roughness."""
    k = (phase / TAU).astype(np.int64)
    return np.exp(spread * rng.standard_normal(int(k[-1]) + 1))[k]


def _bubbles(n, starts, f0, rise, rng, length=400):
    """Small bubble tones whose pitch rises quickly from f0 to rise * f0, one per start."""
    k, tl = len(starts), _t(length)
    gl, tau = rng.uniform(0.003, 0.01, (k, 1)), rng.uniform(0.003, 0.008, (k, 1))
    ph = TAU * np.asarray(f0)[:, None] * (tl + (rise - 1) * (tl - gl * (1 - np.exp(-tl / gl))))
    return _scatter(n, starts, np.minimum(rng.pareto(2.0, (k, 1)) + 0.3, 3.0) * np.sin(ph) * np.exp(-tl / tau))


def _hump(u):
    return 4.0 * u * (1.0 - u)  # a cheap sin(pi u)-like bump on [0, 1]


def _u(n: int):
    t = _t(n)
    return t, t / max(t[-1], 1e-3)  # time, and position 0..1 in the event


# ---------------------------------------------------------------------------------------
# animals


def _p_meow(rng, pitch):
    return {
        "f0": _pitch(rng, pitch, (260, 380), (420, 620), (680, 980)),
        "rise": rng.uniform(0.25, 0.6),
        "peak": rng.uniform(0.3, 0.55),
        "dur": rng.uniform(0.45, 0.9),
        "f_i": [rng.uniform(350, 500), rng.uniform(1900, 2600), rng.uniform(3100, 3900)],
        "f_a": [rng.uniform(750, 1050), rng.uniform(1300, 1800), rng.uniform(2700, 3400)],
    }


def _s_meow(p, n, rng):
    t, u = _u(n)
    arc = np.sin(0.5 * np.pi * np.where(u < p["peak"], u / p["peak"], (1 - u) / (1 - p["peak"])))
    f = p["f0"] * (1 + p["rise"] * arc) * (1 + rng.normal(0, 0.03))  # the glide up, then down
    fc, w = p["f0"] * (1 + 0.7 * p["rise"]), np.sin(np.pi * u) ** 1.5  # "mi" -> "aa" -> "ow"
    vi, va = _wave(_osc(f, n), [_form_amps(p["f_i"], fc), _form_amps(p["f_a"], fc)], f.max())
    x = _norm((1 - w) * vi + w * va) + 0.05 * rng.standard_normal(n)
    return x * np.sin(np.pi * u) ** 0.6 * np.minimum(t / 0.03, 1)


def _p_crow(rng, pitch):
    return {
        "f0": rng.uniform(350, 600),
        "jit": rng.uniform(0.04, 0.1),
        "noise": rng.uniform(0.3, 0.7),
        "form": [rng.uniform(1000, 1500), rng.uniform(1700, 2400), rng.uniform(2900, 3700)],
        "dur": rng.uniform(0.25, 0.4),
    }


def _s_crow(p, n, rng):
    t, u = _u(n)
    jit = np.repeat(rng.normal(0, p["jit"], n // 64 + 1), 64)[:n]  # period jitter: a harsh, buzzy caw
    f, h = p["f0"] * (1 + 0.2 * np.sin(np.pi * u) - 0.15 * u) * (1 + jit), np.arange(1, 25)
    x = _norm(_wave(_osc(f, n), h**-0.4 * (0.1 + _bump(h * p["f0"], p["form"], 2.5)), f.max()))
    x += p["noise"] * _cn(rng, n, peaks=p["form"], q=2.5)
    return x * np.sin(np.pi * u) ** 0.4 * (1 + 0.5 * np.sin(TAU * rng.uniform(30, 50) * t))


def _p_frog(rng, pitch):
    return {
        "rate": rng.uniform(20, 40),
        "res": rng.uniform(250, 500),
        "res2": rng.uniform(900, 1600),
        "tau": rng.uniform(0.004, 0.01),
        "mix": rng.uniform(0.2, 0.6),
        "dur": rng.uniform(0.25, 0.6),
    }


def _s_frog(p, n, rng):
    period = SR / (p["rate"] * rng.uniform(0.95, 1.05))
    k = max(int(n / period), 1)
    ring = _ring([p["res"], p["res2"]], [p["tau"], p["tau"] * 0.6], min(n, int(5 * p["tau"] * SR)))
    grain = ring[0] + p["mix"] * ring[1]  # one glottal-like pulse ringing the vocal sac
    amps = np.sqrt(np.sin(np.pi * (np.arange(k) + 0.5) / k)) * rng.uniform(0.7, 1.0, k)
    starts = (np.arange(k) * period + rng.normal(0, 0.03 * period, k)).clip(0, n - 1)
    return _scatter(n, starts, amps[:, None] * grain[None])


def _p_cricket(rng, pitch):
    return {
        "f": rng.uniform(3800, 5200),
        "pulse": rng.uniform(25, 50),
        "pulses": int(rng.integers(2, 6)),
        "chirp": rng.uniform(1.5, 3.5),
    }


def _s_cricket(p, n, rng):
    t = _t(n) + rng.uniform(0, 1)
    local = (t * p["pulse"]) % 1.0
    chirp = ((t * p["chirp"]) % 1.0) < p["pulses"] * p["chirp"] / p["pulse"]  # a few pulses per chirp
    f = p["f"] * (1 - 0.02 * local) * (1 + rng.normal(0, 0.005))
    x = np.sin(_osc(f, n)) * np.sin(np.pi * np.clip(local / 0.6, 0, 1)) ** 2 * chirp
    return _fade(x + 0.01 * rng.standard_normal(n), 0.02, 0.02)


# ---------------------------------------------------------------------------------------
# vehicles


def _p_horn(rng, pitch):
    return {
        "f": _pitch(rng, pitch, (300, 360), (380, 450), (480, 580)),
        "ratio": rng.uniform(1.2, 1.28),
        "duty": rng.uniform(0.33, 0.42),
        "res": rng.uniform(2400, 3200),
        "dur": rng.uniform(0.45, 0.75),
    }


def _s_horn(p, n, rng):
    t, h, x = _t(2 * n) / 2, np.arange(1, 21), np.zeros(2 * n)  # rendered at 32 kHz so the overdrive cannot alias
    for f0 in (p["f"], p["f"] * p["ratio"]):  # two pulse-wave tones a third apart
        f = f0 * (1 + rng.normal(0, 0.004)) * (1 - 0.03 * np.exp(-t / 0.03))
        # little below ~600 Hz (a small diaphragm), a flare resonance at 2.4-3.2 kHz, nothing past 4.5 kHz
        amps = np.sin(np.pi * h * p["duty"]) / h * (0.15 + _bump(h * f0, [p["res"]], 1.5)) * (h * f0 < 4500)
        x += _wave(_osc(f / 2, 2 * n, rng.uniform(0, TAU)), amps * np.minimum(h * f0 / 600, 1) ** 2)
    m = _fast(n)
    y = np.fft.rfft(np.tanh(1.5 * _norm(x)), 2 * m)[: m // 2 + 1]  # overdriven: the two tones intermodulate
    return _fade(np.fft.irfft(y, m)[:n] / 2, 0.01, 0.03)  # low-passed back to 16 kHz


def _p_train(rng, pitch):
    return {
        "rate": rng.uniform(1.0, 2.0),
        "gap": rng.uniform(0.08, 0.18),
        "rumble": rng.uniform(80, 250),
        "clack": rng.uniform(1.0, 2.5),
        "ring": rng.uniform(600, 1500),
    }


def _s_train(p, n, rng):
    t = _t(n)
    rumble = _cn(rng, n, 25, p["rumble"], -3) * (1 + 0.3 * np.sin(TAU * 0.5 * t + rng.uniform(0, 6.3)))
    on = np.arange(rng.uniform(0, SR / p["rate"]), n, SR / p["rate"])
    starts = np.concatenate([on, on + p["gap"] * SR * rng.uniform(0.95, 1.05)])  # wheel pairs over a rail joint
    k, tl = len(starts), _t(int(0.05 * SR))
    grains = rng.standard_normal((k, len(tl))) * np.exp(-tl / 0.006)  # the clack, and the wheel's ring
    grains += 2 * _ring(p["ring"] * rng.uniform(0.95, 1.05, k), 0.02, len(tl))
    return _fade(rumble + p["clack"] * _norm(_scatter(n, starts, grains)), 0.1, 0.1)


def _p_motorcycle(rng, pitch):
    return {
        "f0": rng.uniform(60, 85),
        "rise": rng.uniform(0.25, 0.6),
        "rough": rng.uniform(0.3, 0.6),
        "amps": rng.uniform(0.3, 1.0, 24) / np.arange(1, 25) ** 0.5,
        "noise": rng.uniform(0.3, 0.6),
    }


def _s_motorcycle(p, n, rng):
    t, u = _u(n)
    f = p["f0"] * (1 + p["rise"] * u ** rng.uniform(1, 2)) * (1 + 0.01 * np.sin(TAU * 3 * t))  # the revs climb
    ph = _osc(f, n)
    x = _norm(_wave(ph, p["amps"], f.max()) * _cycles(ph, rng, p["rough"]))  # uneven firing
    return _fade(x + p["noise"] * _cn(rng, n, 150, 4000) * (1 + np.cos(ph)), 0.1, 0.1)  # exhaust puffs


def _p_airplane(rng, pitch):
    return {
        "lp": rng.uniform(300, 800),
        "tilt": rng.uniform(-4, -1.5),
        "sweep": rng.uniform(0.15, 0.35),
        "whine": rng.uniform(2500, 6000),
        "w_amp": rng.uniform(0.1, 0.25),
        "dir": float(rng.choice([-1.0, 1.0])),
    }


def _s_airplane(p, n, rng):
    t, u = _u(n)
    m = _fast(n)
    spec = (rng.standard_normal(m // 2 + 1) + 1j * rng.standard_normal(m // 2 + 1)) * _band_mask(m, 40, 7500, p["tilt"])
    full, low = np.fft.irfft(spec, m)[:n], np.fft.irfft(spec * _band_mask(m, 20, p["lp"]), m)[:n]
    x = low + (0.5 + 0.5 * np.tanh(p["dir"] * (u - rng.uniform(0.3, 0.7)) / p["sweep"])) * (full - low)  # LP sweep
    whine = np.sin(_osc(p["whine"] * (1 - 0.03 * p["dir"] * (u - 0.5)), n))  # turbine whine, Doppler-shifted
    return _fade(x + 1.4 * p["w_amp"] * np.sqrt(np.mean(x**2)) * whine, 0.2, 0.2)


def _p_helicopter(rng, pitch):
    return {
        "rate": rng.uniform(10, 20),
        "lp": rng.uniform(400, 1200),
        "sharp": rng.uniform(4, 10),
        "depth": rng.uniform(0.7, 0.95),
        "tail": rng.uniform(0.0, 0.15),
    }


def _s_helicopter(p, n, rng):
    t = _t(n)
    ph = (t * p["rate"] * (1 + 0.01 * np.sin(TAU * 0.3 * t)) + rng.uniform(0, 1)) % 1.0
    x = _cn(rng, n, 30, p["lp"], -2) * (1 - p["depth"] + p["depth"] * np.exp(-ph * p["sharp"]))  # a slap per blade
    return _fade(x + p["tail"] * _wave(_osc(p["rate"] * 5.3, n), [1.0, 0.5, 0.3]), 0.1, 0.1)  # + tail rotor buzz


# ---------------------------------------------------------------------------------------
# tools


def _p_drill(rng, pitch):
    return {
        "f0": _pitch(rng, pitch, (140, 210), (240, 350), (400, 600)),
        "noise": rng.uniform(0.15, 0.4),
        "amps": rng.uniform(0.4, 1.0, 16) / np.arange(1, 17) ** 0.7,
        "bursts": int(rng.integers(2, 4)),
        "spin": rng.uniform(0.08, 0.2),
    }


def _s_drill(p, n, rng):
    t, slot, speed = _t(n), n / SR / p["bursts"], np.zeros(n)
    for i in range(p["bursts"]):  # trigger pulls: spin up, run, spin down
        a = (i + rng.uniform(0, 0.25)) * slot
        b = a + rng.uniform(0.5, 0.7) * slot
        speed = np.maximum(speed, np.clip(np.minimum(t - a, b + p["spin"] - t) / p["spin"], 0, 1))
    f = p["f0"] * (0.25 + 0.75 * speed) * (1 + 0.01 * np.sin(TAU * 7 * t))
    x = _norm(_wave(_osc(f, n), p["amps"], f.max())) + p["noise"] * _cn(rng, n, 800, 7000)
    return x * speed * np.sqrt(speed)


def _p_saw(rng, pitch):
    return {
        "rate": rng.uniform(1.5, 3.0),
        "lo": rng.uniform(900, 1400),
        "hi": rng.uniform(4000, 6500),
        "res": rng.uniform(2000, 4000),
        "teeth": rng.uniform(80, 200),
        "push": rng.uniform(0.5, 1.0),
    }


def _s_saw(p, n, rng):
    s = np.sin(np.pi * p["rate"] * _t(n) + rng.uniform(0, 6.3))  # each half-cycle is one stroke
    env = np.abs(s) ** 0.8 * np.where(s > 0, 1.0, p["push"])
    teeth = 1 + 0.6 * np.sin(_osc(p["teeth"] * (0.3 + np.abs(s)), n))  # the teeth's rasp follows the stroke speed
    return _cn(rng, n, p["lo"], p["hi"], peaks=[p["res"]], q=4, w=0.7) * env * teeth


def _p_hammer(rng, pitch):
    return {
        "freqs": rng.uniform(1500, 7000, 6),
        "amps": rng.uniform(0.3, 1.0, 6),
        "tau": rng.uniform(0.02, 0.06),
        "thud": rng.uniform(0.3, 0.8),
        "dur": rng.uniform(0.12, 0.3),
    }


def _s_hammer(p, n, rng):
    t, k = _t(n), min(n, 320)
    x = p["amps"] @ _ring(p["freqs"] * rng.uniform(0.99, 1.01, 6), p["tau"] * rng.uniform(0.5, 1.5, 6), n)  # metal
    x += p["thud"] * np.sin(TAU * rng.uniform(150, 250) * t) * np.exp(-t / 0.01)
    x[:k] += 2 * _cn(rng, k, 1500, 7500) * np.exp(-t[:k] / 0.002)  # the strike's click
    return _fade(x, 0.0005, 0.01)


def _p_typing(rng, pitch):
    return {
        "rate": rng.uniform(6, 12),
        "fc": rng.uniform(1500, 4000),
        "spread": rng.uniform(0.3, 0.7),
        "tau": rng.uniform(0.002, 0.006),
        "up": rng.uniform(0.2, 0.6),
    }


def _s_typing(p, n, rng):
    gaps = rng.gamma(2.0, 1 / (2 * p["rate"]), int(p["rate"] * n / SR * 1.5) + 4)
    gaps *= np.where(rng.random(len(gaps)) < 0.08, rng.uniform(2, 5, len(gaps)), 1.0)  # a pause to think
    on = (np.cumsum(gaps) - gaps[0] * rng.uniform(0.5, 1.0)) * SR
    on = on[on < n] if (on < n).any() else on[:1] * 0
    k, tl = len(on), _t(int(0.025 * SR))
    f = np.minimum(p["fc"] * np.exp(rng.normal(0, p["spread"], (2 * k, 2))), 7500)  # each key its own spectrum
    grains = _ring(f, p["tau"], len(tl)).sum(1) + rng.standard_normal((2 * k, len(tl))) * np.exp(-tl / 0.0007)
    grains[k:] *= p["up"]  # the key's release, softer
    return _scatter(n, np.concatenate([on, on + rng.uniform(0.05, 0.12, k) * SR]), grains)


def _p_sanding(rng, pitch):
    return {
        "rate": rng.uniform(1.0, 2.0),
        "hp": rng.uniform(1500, 3000),
        "depth": rng.uniform(0.35, 0.65),
        "tilt": rng.uniform(-1.0, 2.0),
    }


def _s_sanding(p, n, rng):
    env = 1 + p["depth"] * np.sin(TAU * p["rate"] * rng.uniform(0.9, 1.1) * _t(n) + rng.uniform(0, 6.3))
    return _fade(_cn(rng, n, p["hp"], 7900, p["tilt"]) * env, 0.1, 0.1)


def _p_ratchet(rng, pitch):
    return {
        "rate": rng.uniform(20, 40),
        "f": rng.uniform(2000, 3500),
        "f2": rng.uniform(4500, 6500),
        "tau": rng.uniform(0.0015, 0.004),
        "burst": rng.uniform(0.3, 0.7),
        "gap": rng.uniform(0.15, 0.4),
    }


def _s_ratchet(p, n, rng):
    tk, cyc = np.arange(0, n / SR, 1 / p["rate"]), p["burst"] + p["gap"]
    on = tk[((tk + rng.uniform(0, cyc)) % cyc) < p["burst"]]  # bursts of regular clicks
    on = on if len(on) else tk[:1]
    k, j, tl = len(on), rng.uniform(0.97, 1.03, (len(on), 1)), _t(int(0.015 * SR))
    grains = _ring(np.hstack([p["f"] * j, p["f2"] * j]), [p["tau"], p["tau"] * 0.6], len(tl)).sum(1)
    grains += 0.5 * rng.standard_normal((k, len(tl))) * np.exp(-tl / 0.0005)
    return _scatter(n, on * SR + rng.normal(0, 8, k), grains)


# ---------------------------------------------------------------------------------------
# water


def _p_stream(rng, pitch):
    return {
        "rate": rng.uniform(30, 90),
        "fhi": rng.uniform(900, 1500),
        "rise": rng.uniform(1.3, 2.0),
        "bed": rng.uniform(0.4, 1.0),
    }


def _s_stream(p, n, rng):
    k = max(int(p["rate"] * n / SR), 1)
    x = _bubbles(n, rng.integers(0, n, k), np.exp(rng.uniform(np.log(300), np.log(p["fhi"]), k)), p["rise"], rng)
    return _fade(_norm(x) + p["bed"] * _cn(rng, n, 100, 6000, -3), 0.1, 0.1)  # over a pink bed


def _p_waves(rng, pitch):
    return {
        "rate": rng.uniform(0.15, 0.3),
        "lp": rng.uniform(500, 1200),
        "hiss": rng.uniform(0.4, 0.9),
        "crest": rng.uniform(0.3, 0.7),
        "bed": rng.uniform(0.05, 0.15),
    }


def _s_waves(p, n, rng):
    swell = 0.5 + 0.5 * np.cos(TAU * p["rate"] * (_t(n) - p["crest"] * n / SR))  # one crest inside the clip
    m = _fast(n)
    spec = rng.standard_normal(m // 2 + 1) + 1j * rng.standard_normal(m // 2 + 1)
    low = _norm(np.fft.irfft(spec * _band_mask(m, 40, p["lp"], -3), m)[:n])
    hiss = _norm(np.fft.irfft(spec * _band_mask(m, 800, 7000, -2), m)[:n])  # the breaking surf
    return _fade(low * (p["bed"] + swell**2) + p["hiss"] * hiss * swell**4, 0.2, 0.2)


def _p_splash(rng, pitch):
    return {
        "hi": rng.uniform(1500, 3500),
        "tau": rng.uniform(0.06, 0.12),
        "bubbles": int(rng.integers(5, 12)),
        "fb": rng.uniform(400, 900),
        "dur": rng.uniform(0.35, 0.5),
    }


def _s_splash(p, n, rng):
    t, k = _t(n), p["bubbles"]
    burst = _cn(rng, n, 150, p["hi"], -2) * np.exp(-t / p["tau"]) * np.minimum(t / 0.004, 1)
    bub = _bubbles(n, rng.uniform(0.05, 0.6, k) * n, p["fb"] * np.exp(rng.normal(0, 0.3, k)), 1.5, rng, 800)
    return burst + 0.5 * _norm(bub) * np.exp(-t / 0.3)


# ---------------------------------------------------------------------------------------
# household


def _p_knock(rng, pitch):
    return {
        "f": rng.uniform(100, 300),
        "m": rng.uniform([1.8, 3.5], [2.6, 5.5]),
        "tau": rng.uniform(0.015, 0.04),
        "click": rng.uniform(0.2, 0.6),
        "dur": rng.uniform(0.08, 0.16),
    }


def _s_knock(p, n, rng):
    t, k = _t(n), min(n, 240)
    f = p["f"] * rng.uniform(0.97, 1.03) * np.array([1.0, *p["m"]])  # the door panel's first modes
    x = np.array([1.0, 0.5, 0.25]) @ _ring(f, p["tau"] * np.array([1.0, 0.6, 0.4]), n)
    x[:k] += p["click"] * _cn(rng, k, 500, 4000) * np.exp(-t[:k] / 0.0015)
    return _fade(x, 0.0005, 0.01)


def _p_footsteps(rng, pitch):
    return {
        "thud": rng.uniform(60, 150),
        "surface": rng.uniform(400, 1500),
        "scuff_f": rng.uniform(1500, 3900),
        "gap": rng.uniform(0.04, 0.1),
        "scuff": rng.uniform(0.2, 0.6),
        "dur": rng.uniform(0.25, 0.4),
    }


def _s_footsteps(p, n, rng):
    t = _t(n)
    heel = _cn(rng, n, 40, p["surface"], -3) * np.exp(-t / 0.02) + 1.5 * np.sin(TAU * p["thud"] * t) * np.exp(-t / 0.03)
    g, w = p["gap"] * rng.uniform(0.8, 1.2), rng.uniform(0.05, 0.12)  # then the sole scuffs forward
    scuff = _cn(rng, n, p["scuff_f"] / 2, p["scuff_f"] * 2) * np.sin(np.pi * np.clip((t - g) / w, 0, 1))
    return heel + p["scuff"] * scuff


def _p_vacuum(rng, pitch):
    return {
        "f": rng.uniform(200, 400),
        "amps": rng.uniform(0.2, 1.0, 12) / np.arange(1, 13) ** 0.7,
        "whine": rng.uniform(0.3, 0.7),
        "lo": rng.uniform(150, 400),
        "tilt": rng.uniform(-2.0, 0.5),
        "res": rng.uniform(1000, 3000),
    }


def _s_vacuum(p, n, rng):
    f = p["f"] * (1 + 0.004 * np.sin(TAU * rng.uniform(0.2, 1.0) * _t(n)))
    whine = _norm(_wave(_osc(f, n), p["amps"], f.max()))  # the motor, over a loud broadband rush
    return _fade(_cn(rng, n, p["lo"], 7800, p["tilt"], [p["res"]], 3, 0.5) + p["whine"] * whine, 0.15, 0.15)


def _p_doorbell(rng, pitch):
    return {
        "f": _pitch(rng, pitch, (392, 494), (523, 698), (784, 988)),
        "ratio": float(rng.choice([1.19, 1.26])),
        "tau": rng.uniform(0.3, 0.6),
        "h": rng.uniform([0.05, 0.02], [0.3, 0.15]),
        "gap": rng.uniform(0.35, 0.5),
        "dur": rng.uniform(1.1, 1.5),
    }


def _s_doorbell(p, n, rng):
    t, x = _t(n), np.zeros(n)
    for f, s in ((p["f"], 0), (p["f"] / p["ratio"], int(p["gap"] * n))):  # ding, then dong a third lower
        tt, f, k = t[: n - s], f * (1 + rng.normal(0, 0.003)), min(320, n - s)
        tone = np.sin(TAU * f * tt) + p["h"][0] * np.sin(TAU * 2 * f * tt) + p["h"][1] * np.sin(TAU * 3 * f * tt)
        x[s:] += tone * np.exp(-tt / p["tau"]) * np.minimum(tt / 0.002, 1)
        x[s : s + k] += 0.6 * _cn(rng, k, 300, 4000) * np.exp(-tt[:k] / 0.004)  # the plunger striking the bar
    return _fade(x, 0.001, 0.02)


def _p_kettle(rng, pitch):
    return {
        "f": _pitch(rng, pitch, (1400, 1800), (1900, 2300), (2400, 3000)),
        "rise": rng.uniform(0.05, 0.15),
        "breath": rng.uniform(0.3, 0.8),
        "warble": rng.uniform(0.002, 0.01),
        "onset": rng.uniform(0.3, 1.0),
    }


def _s_kettle(p, n, rng):
    t, u = _u(n)
    build = 1 - np.exp(-t / p["onset"])  # the whistle builds up as the steam pressure rises
    f = p["f"] * (1 + p["rise"] * u) * (1 + p["warble"] * np.sin(TAU * rng.uniform(4, 8) * t))
    breath = _cn(rng, n, 1500, 7500, peaks=[p["f"] * (1 + p["rise"] / 2)], q=5, w=5)
    return _fade(np.sin(_osc(f, n)) * build**2 + p["breath"] * breath * build, 0.05, 0.05)


# ---------------------------------------------------------------------------------------
# instruments


def _p_piano(rng, pitch):
    return {
        "f0": _pitch(rng, pitch, (98, 165), (196, 330), (392, 660)),
        "B": rng.uniform(1e-4, 6e-4),
        "tau": rng.uniform(0.4, 0.7),
        "bright": rng.uniform(0.8, 1.2),
        "hammer": rng.uniform(0.4, 0.7),
        "dur": rng.uniform(0.7, 1.2),
    }


def _s_piano(p, n, rng):
    t, h, x, k = _t(n), np.arange(1, 17), np.zeros(n), min(n, 960)
    a = h ** -p["bright"] * rng.uniform(0.6, 1.0, 16)
    for lo, hi in ((1, 3), (3, 6), (6, 17)):  # partial groups, each stretched sharp as on a stiff string
        hc = (lo + hi - 1) / 2
        f = p["f0"] * np.sqrt(1 + p["B"] * hc**2)
        e = np.exp(-t * (1 + 0.25 * (hc - 1)) / p["tau"])  # higher partials decay faster; a fast then a slow stage
        x += _wave(_osc(f, n, rng.uniform(0, TAU)), a * ((h >= lo) & (h < hi)), f) * (0.7 * (e * e) ** 2 + 0.3 * e)
    peak = np.abs(x).max()
    x[:k] += p["hammer"] * peak * _cn(rng, k, 150, 3000) * np.exp(-t[:k] / 0.008)  # the felt hammer's thump
    return _fade(x + 0.1 * peak * _cn(rng, n, 50, 1500, -3) * np.exp(-t / 0.3), 0.001, 0.03)  # + soundboard noise


def _p_guitar(rng, pitch):
    return {
        "f0": _pitch(rng, pitch, (82, 110), (123, 165), (175, 247)),
        "pos": rng.uniform(0.1, 0.3),
        "tau": rng.uniform(0.25, 0.55),
        "body": rng.uniform(95, 125),
        "dur": rng.uniform(0.5, 1.0),
    }


def _s_guitar(p, n, rng):
    t, h, k = _t(n), np.arange(1, 33), min(n, 480)
    base = np.abs(np.sin(np.pi * h * p["pos"])) / h**0.8  # the pluck position notches the spectrum
    ph = _osc(p["f0"] * (1 + rng.normal(0, 0.002)) * (1 + 0.004 * np.exp(-t / 0.05)), n)
    low, mid, high = _wave(ph, [base * ((h >= lo) & (h < hi)) for lo, hi in ((1, 3), (3, 7), (7, 33))], p["f0"] * 1.01)
    e = np.exp(-t / p["tau"])
    x = low * e + mid * e**2 + high * (e * e) ** 2  # the higher harmonics die sooner
    x += 0.4 * np.sin(TAU * p["body"] * t) * np.exp(-t / 0.06)  # the body's air mode
    x[:k] += _cn(rng, k, 1000, 7000) * np.exp(-t[:k] / 0.005)  # pick noise
    return _fade(x, 0.001, 0.03)


def _p_flute(rng, pitch):
    return {
        "f0": _pitch(rng, pitch, (262, 370), (392, 587), (659, 988)),
        "breath": rng.uniform(0.15, 0.3),
        "amps": np.array([1.0, *rng.uniform([0.05, 0.02, 0.0], [0.3, 0.12, 0.05])]),
        "vib": rng.uniform(4.0, 6.0),
        "depth": rng.uniform(0.003, 0.01),
        "dur": rng.uniform(0.6, 1.1),
    }


def _s_flute(p, n, rng):
    t = _t(n)
    vib = np.sin(TAU * p["vib"] * t + rng.uniform(0, 6.3)) * np.clip(t / 0.25, 0, 1)
    tone = _wave(_osc(p["f0"] * (1 + rng.normal(0, 0.003)) * (1 + p["depth"] * vib), n), p["amps"], 1.02 * p["f0"])
    breath = _cn(rng, n, 1500, 7000, peaks=[p["f0"], 2 * p["f0"]], w=2)
    env = np.clip(t / rng.uniform(0.05, 0.1), 0, 1) * (1 + 0.1 * vib)
    return _fade((tone + p["breath"] * breath) * env, 0.02, 0.08)


def _p_violin(rng, pitch):
    return {
        "f0": _pitch(rng, pitch, (196, 294), (330, 494), (523, 784)),
        "vib": rng.uniform(5.0, 7.0),
        "depth": rng.uniform(0.008, 0.015),
        "bow": rng.uniform(0.15, 0.25),
        "dur": rng.uniform(0.6, 1.2),
        "body": [rng.uniform(260, 320), rng.uniform(450, 600), rng.uniform(2300, 3200)],
    }


def _s_violin(p, n, rng):
    t, h = _t(n), np.arange(1, 31)
    # a bowed sawtooth through the body resonances and the bridge hill (2.3-3.2 kHz)
    amps = (0.2 + _bump(h * p["f0"], p["body"][:2], 2.5) + 1.5 * _bump(h * p["f0"], p["body"][2:], 2.0)) / h**0.8
    f = p["f0"] * (1 + p["depth"] * np.sin(TAU * p["vib"] * t) * np.clip((t - 0.1) / 0.2, 0, 1))
    x = _norm(_wave(_osc(f, n), amps, f.max())) + p["bow"] * _cn(rng, n, 1500, 7500)  # + rosin noise
    return _fade(x * np.clip(t / rng.uniform(0.06, 0.15), 0, 1), 0.01, 0.08)


# ---------------------------------------------------------------------------------------
# alarms / electronic


def _p_buzzer(rng, pitch):
    return {
        "f": rng.uniform(90, 200),
        "duty": rng.uniform(0.2, 0.45),
        "res": rng.uniform(1000, 3000),
        "rough": rng.uniform(0.2, 0.5),
        "dur": rng.uniform(0.4, 0.8),
    }


def _s_buzzer(p, n, rng):
    h, f = np.arange(1, 41), p["f"] * (1 + rng.normal(0, 0.005))
    ph = _osc(f, n)
    x = _wave(ph, np.sin(np.pi * h * p["duty"]) / h * (1 + 2 * _bump(h * f, [p["res"]], 2.0)), f)  # a pulse wave
    return _fade(x * (1 + p["rough"] * np.sin(ph / 2)), 0.005, 0.01)  # with a subharmonic rattle


def _p_phone(rng, pitch):
    return {
        "f1": rng.uniform(380, 460),
        "ratio": rng.uniform(1.08, 1.2),
        "trill": rng.uniform(15, 25),
        "fsk": bool(rng.integers(0, 2)),
        "h": rng.uniform(0.0, 0.3),
        "dur": rng.uniform(0.8, 1.2),
    }


def _s_phone(p, n, rng):
    amps, tr = [1.0, 0.0, p["h"]], np.sin(TAU * p["trill"] * rng.uniform(0.98, 1.02) * _t(n))
    if p["fsk"]:  # electronic ring: the tone flips between two pitches at the trill rate
        f = p["f1"] * np.where(tr > 0, p["ratio"], 1.0)
        return _fade(_wave(_osc(f, n), amps, f.max()), 0.01, 0.02)
    x = sum(_wave(_osc(f, n, rng.uniform(0, TAU)), amps, f) for f in (p["f1"], p["f1"] * p["ratio"]))
    return _fade(x * np.clip(2 * tr + 0.3, 0, 1), 0.01, 0.02)  # bell-style ring: both tones, gated at the trill rate


def _p_whistle(rng, pitch):
    return {
        "f": _pitch(rng, pitch, (2000, 2500), (2600, 3100), (3200, 3900)),
        "trill": rng.uniform(20, 40),
        "depth": rng.uniform(0.03, 0.08),
        "am": rng.uniform(0.3, 0.7),
        "breath": rng.uniform(0.1, 0.3),
        "dur": rng.uniform(0.3, 1.0),
    }


def _s_whistle(p, n, rng):
    tr = np.sin(TAU * p["trill"] * rng.uniform(0.95, 1.05) * _t(n))  # the pea rattling in the chamber
    tone = np.sin(_osc(p["f"] * (1 + p["depth"] * tr), n)) * (1 + p["am"] * tr)
    return _fade(tone + p["breath"] * _cn(rng, n, 1000, 7000, peaks=[p["f"]], q=4, w=3.3), 0.02, 0.04)


# ---------------------------------------------------------------------------------------
# voices

_VOWELS = np.array(
    [[730, 1090, 2440], [530, 1840, 2480], [270, 2290, 3010], [570, 840, 2410], [300, 870, 2240], [660, 1720, 2410]],
    dtype=float,
)  # F1-F3 of a e i o u ae (Hz)


def _p_laugh(rng, pitch):
    return {
        "f0": rng.uniform(160, 320),
        "k": int(rng.integers(3, 7)),
        "breath": rng.uniform(0.2, 0.5),
        "form": [rng.uniform(650, 900), rng.uniform(1100, 1500), rng.uniform(2400, 3000)],
        "dur": rng.uniform(0.6, 1.0),
    }


def _s_laugh(p, n, rng):
    t, u = _u(n)
    local = (u * p["k"]) % 1.0  # position inside each "ha": breathy "h", then the voiced "a"
    f = p["f0"] * (1 - 0.3 * u) * (1 + 0.08 * np.sin(np.pi * local)) * (1 + rng.normal(0, 0.03))
    voice = _wave(_osc(f, n), _form_amps(p["form"], p["f0"]), f.max())
    voice *= np.sin(np.pi * np.clip((local - 0.2) / 0.6, 0, 1))
    breath = _cn(rng, n, peaks=p["form"], q=2.5) * np.exp(-0.5 * ((local - 0.15) / 0.07) ** 2)
    return _fade((_norm(voice) + p["breath"] * _norm(breath)) * (1 - 0.4 * u), 0.01, 0.03)


def _p_cough(rng, pitch):
    return {
        "form": [rng.uniform(400, 700), rng.uniform(1200, 1900), rng.uniform(2400, 3200)],
        "tau": rng.uniform(0.05, 0.1),
        "voiced": rng.uniform(0.1, 0.4),
        "f0": rng.uniform(120, 250),
        "dur": rng.uniform(0.25, 0.4),
    }


def _s_cough(p, n, rng):
    t, u = _u(n)
    tau = p["tau"] * rng.uniform(0.85, 1.15)
    env = np.minimum(t / 0.003, 1) * (0.7 * np.exp(-t / tau) + 0.3 * np.exp(-t / (3 * tau)))  # explosive onset
    voice = _wave(_osc(p["f0"] * (1 - 0.2 * u), n), _form_amps(p["form"], p["f0"]), p["f0"])
    return (_cn(rng, n, 20, 7900, peaks=p["form"], q=2.0, w=3.0) + p["voiced"] * _norm(voice)) * env


def _p_speech(rng, pitch):
    return {
        "f0": rng.uniform(90, 250),
        "syl": rng.uniform(3, 6),
        "inton": rng.uniform(0.08, 0.2),
        "vowels": rng.choice(len(_VOWELS), 3, replace=False),
        "shift": rng.uniform(0.9, 1.15),
        "fric": rng.uniform(0.2, 0.6),
    }


def _s_speech(p, n, rng):
    t = _t(n)
    d = rng.uniform(0.6, 1.4, int(n / SR * p["syl"] * 1.7) + 2) / p["syl"]  # syllable lengths
    edges = np.concatenate([[0.0], np.cumsum(d)])
    idx = np.minimum(np.searchsorted(edges, t, side="right") - 1, len(d) - 1)
    local, which = (t - edges[idx]) / d[idx], rng.integers(0, 3, len(d))
    tc = t[::64]  # intonation, on a coarse grid: a slow rise and fall over a declining baseline
    f = np.interp(
        t,
        tc,
        p["f0"]
        * (1 + p["inton"] * np.sin(TAU * rng.uniform(0.3, 0.7) * tc + rng.uniform(0, 6.3)))
        * (1 - 0.1 * tc / t[-1]),
    )
    vow = _wave(_osc(f, n), [_form_amps(_VOWELS[v] * p["shift"], p["f0"]) for v in p["vowels"]], f.max())
    x = sum(np.interp(t, edges[:-1] + d / 2, (which == j).astype(float)) * vow[j] for j in range(3))  # formant glides
    voiced = rng.random(len(d)) > 0.12  # a few silent syllables: pauses between words
    voiced[0] = True
    fric = (rng.random(len(d)) < 0.5) & voiced  # half the syllables open with a fricative (differenced white noise)
    cons = np.diff(rng.standard_normal(n + 1)) * np.exp(-0.5 * ((local - 0.06) / 0.05) ** 2) * fric[idx]
    return _fade(_norm(x * np.sqrt(_hump(local)) * voiced[idx]) + p["fric"] * cons, 0.03, 0.03)


def _p_snore(rng, pitch):
    return {
        "rate": rng.uniform(0.25, 0.4),
        "f0": rng.uniform(60, 100),
        "rough": rng.uniform(0.3, 0.8),
        "form": [rng.uniform(300, 600), rng.uniform(900, 1400)],
        "duty": rng.uniform(0.35, 0.55),
        "start": rng.uniform(0.0, 0.6),
    }


def _s_snore(p, n, rng):
    cyc = ((_t(n) - p["start"]) * p["rate"]) % 1.0
    inhale = _hump(np.clip(cyc / p["duty"], 0, 1))
    inhale *= np.sqrt(inhale)  # the snore itself, then a quiet exhale
    exhale = 0.15 * _hump(np.clip((cyc - p["duty"]) / (1 - p["duty"]), 0, 1))
    ph, h = _osc(p["f0"] * (1 + 0.1 * inhale), n), np.arange(1, 25)
    voiced = _norm(_wave(ph, h**-0.8 * (0.2 + _bump(h * p["f0"], p["form"], 2.0))) * _cycles(ph, rng, p["rough"]))
    breath = _cn(rng, n, 100, 3000, peaks=p["form"], q=2.0, w=2.0)  # the soft palate flutters in the airflow
    return _fade((voiced + 0.7 * breath * (1 + np.cos(ph))) * inhale + (exhale + 0.02) * breath, 0.1, 0.1)


Recipe = tuple[Callable, Callable]
RECIPES: dict[str, Recipe] = {name: (globals()[f"_p_{name}"], globals()[f"_s_{name}"]) for name in NEW_CLASSES}

# Imported last (recipes look the helpers up only when called): mats_tiny.world imports this
# module at its own bottom and reads RECIPES, so either module can be imported first.
from mats_tiny.world import SAMPLE_RATE, _band_mask, _fade, _form_amps, _noise, _norm, _osc, _peak_mask, _pitch, _t  # noqa: E402

SR = SAMPLE_RATE
