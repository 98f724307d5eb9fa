"""The tiny world's sound scenes: a seeded procedural generator with no external audio.

A :class:`Scene` is a structured description (1-3 sources with count, loudness, pitch,
distance, tempo, order or overlap, an optional background at an SNR). :func:`render` turns
it into 16 kHz mono audio with numpy only. 48 classes in 8 families
(:data:`FAMILIES`); each class has its own synthesis recipe (tone, sweep,
harmonic hum, filtered noise, inharmonic partials, ...) and every clip draws its own
pitch, timbre, duration, rhythm and level, so a model must learn the class signature,
not memorise a waveform. Same scene (same seed) -> bit-identical samples.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Callable, Iterable

import numpy as np

SAMPLE_RATE = 16000
DURATION = 3.0
# 48 sound-source classes in 8 families of 6; the recipes of the first 14 live here, the
# other 34 in :mod:`mats_tiny.sources`.
FAMILIES: dict[str, tuple[str, ...]] = {
    "animals": ("bark", "bird", "meow", "crow", "frog", "cricket"),
    "vehicles": ("engine", "horn", "train", "motorcycle", "airplane", "helicopter"),
    "tools": ("drill", "saw", "hammer", "typing", "sanding", "ratchet"),
    "water": ("rain", "wind", "drip", "stream", "waves", "splash"),
    "household": ("clock", "knock", "footsteps", "vacuum", "doorbell", "kettle"),
    "instruments": ("bell", "drum", "piano", "guitar", "flute", "violin"),
    "alarms": ("beep", "siren", "alarm", "buzzer", "phone", "whistle"),
    "people": ("clap", "babble", "laugh", "cough", "speech", "snore"),
}
CLASSES = tuple(c for members in FAMILIES.values() for c in members)
FAMILY = {c: family for family, members in FAMILIES.items() for c in members}
# Discrete events that can be counted (once, twice, ...) and classes whose pitch is a
# controllable attribute ("a low bell"); completed with the new classes' flags below.
_COUNTABLE = {"beep", "bell", "drum", "clap", "bird", "drip", "bark"}
_PITCHED = {"beep", "siren", "bell", "bird", "alarm", "bark"}
# background name -> the recipe that renders it (never a class of the same scene)
BACKGROUNDS = {"rain": "rain", "wind": "wind", "hum": "hum", "crowd": "babble", "water": "stream"}
LOUDNESS = ("quiet", "normal", "loud")
PITCHES = ("low", "high")
DISTANCES = ("near", "far")
TEMPOS = ("slow", "fast")
REPEATEDLY = 0  # Source.count value for "repeatedly" (5-7 events; slow 3-4, fast 9-12)
EVENTS = {None: (5, 8), "slow": (3, 5), "fast": (9, 13)}  # [lo, hi) events of a REPEATEDLY source
LEVEL_DB = {"quiet": (-36.0, -30.0), "normal": (-25.0, -21.0), "loud": (-14.0, -10.0)}  # max 25-ms RMS, dBFS
SNR_DB = (6.0, 20.0)
CREST = 3.0  # soft peak ceiling of a source, relative to its level


@dataclass(frozen=True)
class Source:
    """One sound source. ``count``: 1, 2, 3 or REPEATEDLY for countable classes, None for
    continuous ones. ``pitch``: "low" | "high" | None (unmarked or not pitched). ``distance``:
    "near" | "far" (muffled, reverberant) | None. ``tempo``: "slow" | "fast" | None, only for
    a countable source heard REPEATEDLY (the events' rate)."""

    cls: str
    count: int | None = None
    loudness: str = "normal"
    pitch: str | None = None
    distance: str | None = None
    tempo: str | None = None

    def __post_init__(self) -> None:
        if self.cls not in CLASSES:
            raise ValueError(f"Source.cls: unknown class {self.cls!r}; classes are {', '.join(CLASSES)}")
        if self.loudness not in LOUDNESS:
            raise ValueError(f"Source.loudness must be one of {LOUDNESS}, got {self.loudness!r}")
        if self.pitch is not None and (self.pitch not in PITCHES or self.cls not in PITCHED):
            raise ValueError(f"Source.pitch {self.pitch!r} is invalid for {self.cls!r} (pitched: {sorted(PITCHED)})")
        countable = self.cls in COUNTABLE
        if countable and self.count not in (1, 2, 3, REPEATEDLY):
            raise ValueError(f"Source.count for {self.cls!r} must be 1, 2, 3 or REPEATEDLY (0), got {self.count!r}")
        if not countable and self.count is not None:
            raise ValueError(f"Source.count must be None for continuous class {self.cls!r}")
        if self.distance is not None and self.distance not in DISTANCES:
            raise ValueError(f"Source.distance must be one of {DISTANCES} or None, got {self.distance!r}")
        if self.tempo is not None and (self.tempo not in TEMPOS or self.count != REPEATEDLY):
            raise ValueError(
                f"Source.tempo {self.tempo!r} needs a countable source heard REPEATEDLY and one of {TEMPOS}"
            )


@dataclass(frozen=True)
class Scene:
    """1-3 sources. ``overlap`` False: they play one after the other in tuple order
    (A then B [then C]); True (2 sources only): A happens while B goes on."""

    sources: tuple[Source, ...]
    overlap: bool = False
    background: str | None = None
    snr_db: float = 12.0
    seed: int = 0
    duration: float = DURATION

    def __post_init__(self) -> None:
        if not 1 <= len(self.sources) <= 3:
            raise ValueError(f"Scene.sources must hold 1 to 3 sources, got {len(self.sources)}")
        if self.overlap and len(self.sources) != 2:
            raise ValueError("Scene.overlap needs exactly 2 sources")
        if self.background is not None and self.background not in BACKGROUNDS:
            raise ValueError(f"Scene.background must be one of {tuple(BACKGROUNDS)} or None, got {self.background!r}")
        if len({s.cls for s in self.sources}) != len(self.sources):
            raise ValueError("Scene.sources must have distinct classes")

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(s.cls for s in self.sources)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Scene":
        return cls(**{**d, "sources": tuple(Source(**s) for s in d["sources"])})


# ---------------------------------------------------------------------------------------
# Signal helpers (vectorised numpy)


def _t(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.float64) / SAMPLE_RATE


def _band_mask(n: int, lo: float, hi: float, slope: float = 0.0) -> np.ndarray:
    """Smooth band-pass magnitude over rfft bins: raised-cosine edges, optional tilt (dB/oct)."""
    logf = _logfreq(n)
    width = 0.25  # octaves of each raised-cosine edge
    lo_edge = np.clip((logf - np.log2(lo)) / (2 * width) + 0.5, 0.0, 1.0)
    hi_edge = np.clip((np.log2(hi) - logf) / (2 * width) + 0.5, 0.0, 1.0)
    mask = (0.5 - 0.5 * np.cos(np.pi * lo_edge)) * (0.5 - 0.5 * np.cos(np.pi * hi_edge))
    if slope:
        mask = mask * np.exp2((np.maximum(logf, np.log2(20.0)) - np.log2(1000.0)) * (slope / 6.02))
    return mask


def _peak_mask(n: int, centers: Iterable[float], q: float) -> np.ndarray:
    """Resonant (formant-like) magnitude: a sum of Gaussian bumps in log-frequency."""
    logf = _logfreq(n)
    return sum(np.exp(-0.5 * ((logf - np.log2(c)) * q) ** 2) for c in centers)


@lru_cache(maxsize=64)
def _logfreq(n: int) -> np.ndarray:
    """log2 of the rfft bin frequencies of an n-sample signal (DC clamped to 1 Hz)."""
    return np.log2(np.maximum(np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE), 1.0))


def _band(x: np.ndarray, lo: float, hi: float, slope: float = 0.0) -> np.ndarray:
    """Filter a signal by :func:`_band_mask` in the FFT domain."""
    return np.fft.irfft(np.fft.rfft(x) * _band_mask(len(x), lo, hi, slope), n=len(x))


def _peaks(x: np.ndarray, centers: Iterable[float], q: float) -> np.ndarray:
    """Filter a signal by :func:`_peak_mask` in the FFT domain."""
    return np.fft.irfft(np.fft.rfft(x) * _peak_mask(len(x), centers, q), n=len(x))


def _noise(rng: np.random.Generator, n: int, mask: np.ndarray) -> np.ndarray:
    """Coloured Gaussian noise drawn directly in the frequency domain (one inverse FFT
    instead of noise + FFT + inverse FFT), unit RMS."""
    m = len(mask)
    spec = (rng.standard_normal(m) + 1j * rng.standard_normal(m)) * mask
    return _norm(np.fft.irfft(spec, n=n))


def _fade(x: np.ndarray, attack: float, release: float) -> np.ndarray:
    n = len(x)
    a, r = max(1, min(n // 2, int(attack * SAMPLE_RATE))), max(1, min(n // 2, int(release * SAMPLE_RATE)))
    env = np.ones(n)
    env[:a] = np.linspace(0.0, 1.0, a)
    env[n - r :] = np.minimum(env[n - r :], np.linspace(1.0, 0.0, r))
    return x * env


def _osc(freq: np.ndarray | float, n: int, phase: float = 0.0) -> np.ndarray:
    """Phase of an oscillator with (possibly time-varying) frequency, in radians."""
    f = np.broadcast_to(np.asarray(freq, dtype=np.float64), (n,))
    return phase + 2.0 * np.pi * np.cumsum(f) / SAMPLE_RATE


def _harmonics(phase: np.ndarray, amps: np.ndarray, fmax: float = 0.0, table_size: int = 4096) -> np.ndarray:
    """Sum of sin(h * phase) weighted by amps, read from a one-period wavetable (O(n), any
    number of harmonics) instead of evaluating one sine per harmonic. Harmonics whose
    frequency would pass 7.8 kHz at fundamental ``fmax`` are dropped (no aliasing)."""
    if fmax:
        amps = np.where(np.arange(1, len(amps) + 1) * fmax < 7800, amps, 0.0)
    grid = np.arange(table_size + 1) * (2.0 * np.pi / table_size)
    table = (amps[:, None] * np.sin(np.arange(1, len(amps) + 1)[:, None] * grid[None, :])).sum(0)
    pos = phase * (table_size / (2.0 * np.pi))
    i = pos.astype(np.int64)
    frac = pos - i
    i &= table_size - 1  # table_size is a power of two: a cheap modulo
    return table[i] + (table[i + 1] - table[i]) * frac


def _norm(x: np.ndarray) -> np.ndarray:
    rms = np.sqrt(np.mean(x**2))
    return x / rms if rms > 1e-12 else x


# ---------------------------------------------------------------------------------------
# Per-class recipes. ``params`` draws a clip's timbre once (shared by its repeated events);
# ``synth`` makes one event / texture of n samples from it (rng adds per-event jitter).


def _pitch(rng, pitch, low, mid, high) -> float:
    lo, hi = {"low": low, "high": high}.get(pitch, mid)
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _p_beep(rng, pitch):
    return {
        "f0": _pitch(rng, pitch, (300, 550), (650, 1200), (1500, 3000)),
        "amps": np.array([1.0, *rng.uniform(0, 0.5, 2) ** 2]),
        "dur": rng.uniform(0.08, 0.3),
    }


def _s_beep(p, n, rng):
    ph = _osc(p["f0"] * (1 + rng.normal(0, 0.005)), n)
    return _fade(_harmonics(ph, p["amps"], p["f0"] * 1.02), 0.004, 0.01)


def _p_siren(rng, pitch):
    return {
        "fc": _pitch(rng, pitch, (350, 600), (650, 1000), (1100, 1700)),
        "depth": rng.uniform(0.2, 0.45),
        "rate": rng.choice([rng.uniform(0.3, 0.8), rng.uniform(2.5, 5.0)]),
        "phase": rng.uniform(0, 2 * np.pi),
        "amps": np.array([1.0, rng.uniform(0.1, 0.5), rng.uniform(0.0, 0.3)]),
    }


def _s_siren(p, n, rng):
    f = p["fc"] * (1 + p["depth"] * np.sin(2 * np.pi * p["rate"] * _t(n) + p["phase"]))
    return _fade(_harmonics(_osc(f, n), p["amps"], f.max()), 0.05, 0.08)


def _p_engine(rng, pitch):
    return {
        "ff": rng.uniform(22, 55),
        "amps": rng.uniform(0.2, 1.0, 10) / np.arange(1, 11) ** 0.6,
        "wobble": rng.uniform(0.005, 0.03),
        "noise": rng.uniform(0.1, 0.4),
        "am": rng.uniform(0.2, 0.6),
    }


def _s_engine(p, n, rng):
    t = _t(n)
    f = p["ff"] * (1 + p["wobble"] * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t))
    ph = _osc(f, n)
    x = _harmonics(ph, p["amps"]) * (1 + p["am"] * np.sin(ph / 2))
    x = _norm(x) + p["noise"] * _noise(rng, n, _band_mask(n, 40, 500))
    return _fade(x, 0.1, 0.1)


def _p_rain(rng, pitch):
    return {
        "rate": rng.uniform(150, 600),
        "lo": rng.uniform(400, 1200),
        "bed": rng.uniform(1.0, 3.0),
        "tilt": rng.uniform(-4, 1),
    }


def _s_rain(p, n, rng):
    drops = np.zeros(n)
    k = int(p["rate"] * n / SAMPLE_RATE)
    np.add.at(drops, rng.integers(0, n, k), np.minimum(rng.pareto(2.5, k), 3.0) + 0.2)
    x = _norm(drops) + p["bed"] * rng.standard_normal(n)
    return _fade(_band(x, p["lo"], 7500, slope=p["tilt"]), 0.15, 0.15)


def _p_wind(rng, pitch):
    return {
        "fc": rng.uniform(150, 700),
        "gust": rng.uniform(0.1, 0.6),
        "depth": rng.uniform(0.4, 0.9),
        "howl": rng.uniform(0.0, 0.6),
        "q": rng.uniform(3, 8),
    }


def _s_wind(p, n, rng):
    t = _t(n)
    env = 1 + p["depth"] * np.sin(2 * np.pi * p["gust"] * t + rng.uniform(0, 6.3)) * np.sin(
        2 * np.pi * p["gust"] * 0.37 * t + rng.uniform(0, 6.3)
    )
    broad, howl = _band_mask(n, 40, p["fc"] * 2, slope=-3), _peak_mask(n, [p["fc"]], p["q"])
    mask = broad / np.sqrt(np.mean(broad**2)) + p["howl"] * howl / np.sqrt(np.mean(howl**2))
    return _fade(_noise(rng, n, mask) * env, 0.3, 0.3)


_BELL_RATIOS = np.array([0.5, 1.0, 1.19, 1.5, 2.0, 2.51, 2.66, 3.01, 4.1])


def _p_bell(rng, pitch):
    return {
        "f0": _pitch(rng, pitch, (180, 350), (400, 800), (900, 1600)),
        "ratios": _BELL_RATIOS * rng.uniform(0.985, 1.015, len(_BELL_RATIOS)),
        "amps": rng.uniform(0.3, 1.0, len(_BELL_RATIOS)),
        "tau": rng.uniform(0.4, 1.4),
        "dur": rng.uniform(0.6, 1.4),
    }


def _s_bell(p, n, rng):
    t = _t(n)
    freqs = np.minimum(p["f0"] * p["ratios"], 7800)[:, None]
    taus = p["tau"] / (1 + 0.5 * np.arange(len(freqs)))[:, None]
    x = (p["amps"][:, None] * np.sin(2 * np.pi * freqs * t + rng.uniform(0, 6.3)) * np.exp(-t / taus)).sum(0)
    k = min(n, 480)  # the strike's noise decays within 30 ms
    x[:k] += _noise(rng, k, _band_mask(k, 1500, 7000)) * np.exp(-t[:k] / 0.004) * 0.5 * np.abs(x).max()
    return _fade(x, 0.001, 0.02)


def _p_drum(rng, pitch):
    return {
        "f_end": rng.uniform(50, 130),
        "f_start": rng.uniform(150, 300),
        "tau": rng.uniform(0.08, 0.25),
        "snare": rng.uniform(0.0, 0.6),
        "dur": rng.uniform(0.2, 0.4),
    }


def _s_drum(p, n, rng):
    t = _t(n)
    f = p["f_end"] + (p["f_start"] - p["f_end"]) * np.exp(-t / 0.03)
    body = np.sin(_osc(f, n)) * np.exp(-t / p["tau"])
    k = min(n, 2400)  # the crack decays within 150 ms
    body[:k] += p["snare"] * _noise(rng, k, _band_mask(k, 300, 4000)) * np.exp(-t[:k] / 0.025) * 0.7
    return _fade(body, 0.001, 0.02)


def _p_clap(rng, pitch):
    return {
        "fc": rng.uniform(900, 2600),
        "bursts": int(rng.integers(2, 5)),
        "gap": rng.uniform(0.004, 0.012),
        "tail": rng.uniform(0.02, 0.07),
        "dur": rng.uniform(0.08, 0.15),
    }


def _s_clap(p, n, rng):
    t = _t(n)
    env = sum(np.exp(-np.maximum(t - i * p["gap"], 0) / 0.003) * (t >= i * p["gap"]) for i in range(p["bursts"]))
    env = env + 0.5 * np.exp(-np.maximum(t - p["bursts"] * p["gap"], 0) / p["tail"]) * (t >= p["bursts"] * p["gap"])
    return _noise(rng, n, _peak_mask(n, [p["fc"], p["fc"] * 1.8], 2.0)) * env


def _p_bird(rng, pitch):
    return {
        "f0": _pitch(rng, pitch, (1500, 2400), (2500, 4000), (4200, 6500)),
        "sweep": rng.uniform(-0.5, 0.9),
        "syll": int(rng.integers(2, 6)),
        "slen": rng.uniform(0.025, 0.07),
        "vib": rng.uniform(0, 0.08),
        "dur": rng.uniform(0.2, 0.45),
    }


def _s_bird(p, n, rng):
    t = _t(n)
    period = max(n // p["syll"], 1)
    local = (np.arange(n) % period) / SAMPLE_RATE
    f = p["f0"] * (1 + p["sweep"] * np.minimum(local / p["slen"], 1)) * (1 + p["vib"] * np.sin(2 * np.pi * 40 * t))
    env = np.sin(np.pi * np.clip(local / p["slen"], 0, 1)) ** 2
    return np.sin(_osc(np.minimum(f, 7800), n)) * env


def _p_clock(rng, pitch):
    return {
        "rate": rng.uniform(1.5, 4.0),
        "f1": rng.uniform(2000, 4500),
        "ratio": rng.uniform(0.7, 0.9),
        "tau": rng.uniform(0.002, 0.008),
    }


def _s_clock(p, n, rng):
    ticks = np.zeros(n)
    step = int(SAMPLE_RATE / p["rate"])
    pos = np.arange(int(rng.uniform(0, step)), n, step)
    ticks[pos] = np.where(np.arange(len(pos)) % 2 == 0, 1.0, 0.7)
    kernel_t = _t(int(0.04 * SAMPLE_RATE))
    kern = (
        np.sin(2 * np.pi * p["f1"] * kernel_t) + 0.6 * np.sin(2 * np.pi * p["f1"] * p["ratio"] * kernel_t)
    ) * np.exp(-kernel_t / p["tau"])
    return np.convolve(ticks, kern)[:n]


def _p_alarm(rng, pitch):
    return {
        "f1": _pitch(rng, pitch, (400, 700), (800, 1400), (1500, 2600)),
        "ratio": rng.uniform(1.15, 1.5),
        "rate": rng.uniform(3, 9),
        "duty": rng.uniform(0.4, 0.8),
        "alt": bool(rng.integers(0, 2)),
    }


def _s_alarm(p, n, rng):
    t = _t(n)
    cyc = (t * p["rate"]) % 1.0
    which = np.floor(t * p["rate"]) % 2
    f = p["f1"] * np.where((which == 1) & p["alt"], p["ratio"], 1.0)
    ph = _osc(f, n)
    square = _harmonics(ph, np.array([1, 0, 1 / 3, 0, 1 / 5, 0, 1 / 7]), f.max())
    gate = np.ones(n) if p["alt"] else (cyc < p["duty"]).astype(float)
    gate = np.convolve(gate, np.ones(40) / 40, mode="same")
    return _fade(square * gate, 0.01, 0.02)


def _p_drip(rng, pitch):
    return {
        "f0": rng.uniform(500, 1300),
        "rise": rng.uniform(1.4, 2.6),
        "glide": rng.uniform(0.01, 0.04),
        "tau": rng.uniform(0.02, 0.06),
        "dur": rng.uniform(0.1, 0.2),
    }


def _s_drip(p, n, rng):
    t = _t(n)
    f = p["f0"] * (1 + (p["rise"] - 1) * (1 - np.exp(-t / p["glide"])))
    x = np.sin(_osc(f, n)) * np.exp(-t / p["tau"])
    k = min(n, 320)  # the splash decays within 20 ms
    x[:k] += 0.07 * _noise(rng, k, _band_mask(k, 2000, 7000)) * np.exp(-t[:k] / 0.003)
    return _fade(x, 0.001, 0.01)


def _p_bark(rng, pitch):
    return {
        "f0": _pitch(rng, pitch, (140, 250), (260, 420), (450, 750)),
        "formants": [rng.uniform(500, 900), rng.uniform(1100, 1900), rng.uniform(2200, 3200)],
        "rough": rng.uniform(25, 60),
        "noise": rng.uniform(0.1, 0.5),
        "dur": rng.uniform(0.15, 0.35),
    }


def _s_bark(p, n, rng):
    t = _t(n)
    u = t / max(t[-1], 1e-3)
    f = p["f0"] * (1 + 0.5 * np.sin(np.pi * u)) * (1 + rng.normal(0, 0.03))
    src = _harmonics(_osc(f, n), 1.0 / np.arange(1, 16), f.max()) * (1 + 0.6 * np.sin(2 * np.pi * p["rough"] * t))
    x = _peaks(_norm(src) + p["noise"] * rng.standard_normal(n), p["formants"], 3.0)
    return x * np.exp(-3 * u) * np.minimum(t / 0.01, 1)


def _p_babble(rng, pitch):
    voices = int(rng.integers(3, 7))
    return {
        "f0s": rng.uniform(90, 240, voices),
        "syl": rng.uniform(3, 6, voices),
        "formants": rng.uniform([400, 1000, 2300], [900, 2000, 3200], (voices, 3)),
    }


def _s_babble(p, n, rng):
    t = _t(n)
    x = np.zeros(n)
    for f0, syl, form in zip(p["f0s"], p["syl"], p["formants"]):
        f = f0 * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(0.3, 1.2) * t + rng.uniform(0, 6.3)))
        gate = np.clip(np.sin(2 * np.pi * syl * t + rng.uniform(0, 6.3)) + rng.uniform(-0.2, 0.4), 0, None)
        x += _norm(_harmonics(_osc(f, n, rng.uniform(0, 6.3)), _form_amps(form, f0))) * gate
    return _fade(x, 0.05, 0.05)


def _form_amps(formants: np.ndarray, f0: float, count: int = 24) -> np.ndarray:
    """Harmonic amplitudes of a voice: a 1/h^1.2 source shaped by formant resonances."""
    h = np.arange(1, count + 1)
    freq = np.log2(h * f0)
    bumps = sum(np.exp(-0.5 * ((freq - np.log2(c)) * 4.0) ** 2) for c in formants)
    return np.where(h * f0 * 1.15 < 7800, (0.05 + bumps) / h**1.2, 0.0)


def _p_hum(rng, pitch):
    return {"f": float(rng.choice([50.0, 60.0])), "amps": rng.uniform(0.1, 1.0, 8) / np.arange(1, 9)}


def _s_hum(p, n, rng):
    return _harmonics(_osc(p["f"], n, rng.uniform(0, 6.3)), p["amps"])


Recipe = tuple[Callable, Callable]
RECIPES: dict[str, Recipe] = {
    name: (globals()[f"_p_{name}"], globals()[f"_s_{name}"])
    for name in (*_COUNTABLE, *_PITCHED, "engine", "rain", "wind", "clock", "babble", "hum")
}
from mats_tiny import sources as _sources  # noqa: E402 - its recipes use the helpers above

RECIPES.update(_sources.RECIPES)
COUNTABLE = frozenset(_COUNTABLE | {c for c, (_, countable, _) in _sources.NEW_CLASSES.items() if countable})
PITCHED = frozenset(_PITCHED | {c for c, (_, _, pitched) in _sources.NEW_CLASSES.items() if pitched})
assert set(RECIPES) == {*CLASSES, "hum"}, sorted(set(RECIPES) ^ {*CLASSES, "hum"})


def _far(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A distant source: high frequencies absorbed and a reverberant tail (exponentially
    decaying noise, RT60 0.4-0.9 s) mixed over the muffled direct sound."""
    n = len(x)
    rt = rng.uniform(0.4, 0.9)
    m = int(rt * SAMPLE_RATE)
    ir = rng.standard_normal(m) * np.exp(-6.9 * _t(m) / rt)
    size = 1 << int(np.ceil(np.log2(n + m)))
    wet = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(ir, size), size)[:n]
    dry = _band(x, 30, rng.uniform(1500, 3000))
    return _norm(dry) + rng.uniform(0.6, 1.0) * _norm(_band(wet, 30, 4000))


# ---------------------------------------------------------------------------------------
# Scene layout and mixing


def _segments(scene: Scene, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Sample spans of each source: consecutive slots for order, nested spans for overlap."""
    n = int(scene.duration * SAMPLE_RATE)
    k = len(scene.sources)
    if k == 1:
        a, b = rng.uniform(0.0, 0.3), rng.uniform(0.0, 0.3)
        return [(int(a * SAMPLE_RATE), n - int(b * SAMPLE_RATE))]
    if scene.overlap:
        start, end = rng.uniform(0.3, 0.7), scene.duration - rng.uniform(0.3, 0.7)
        return [(int(start * SAMPLE_RATE), int(end * SAMPLE_RATE)), (0, n)]
    cuts = np.sort(rng.uniform(0.85, 1.15, k - 1) * np.arange(1, k) * n / k).astype(int)
    bounds = [0, *cuts.tolist(), n]
    gap = int(0.05 * SAMPLE_RATE)
    return [(bounds[i] + (gap if i else 0), bounds[i + 1] - (gap if i < k - 1 else 0)) for i in range(k)]


def _loudness(x: np.ndarray) -> float:
    """Max 25-ms frame RMS: one level measure that treats clicks and textures alike."""
    f = int(0.025 * SAMPLE_RATE)
    m = max(len(x) // f, 1)
    frames = np.resize(x, m * f).reshape(m, f) if len(x) < f else x[: m * f].reshape(m, f)
    return float(np.sqrt((frames**2).mean(1)).max())


def _track(src: Source, span: tuple[int, int], n: int, rng: np.random.Generator) -> np.ndarray:
    """One source over the whole clip, its events laid out inside ``span``, loudness 1."""
    params, synth = RECIPES[src.cls]
    p = params(rng, src.pitch)
    out = np.zeros(n)
    s, e = span
    if src.cls not in COUNTABLE:
        out[s:e] = synth(p, e - s, rng)
    else:
        events = int(rng.integers(*EVENTS[src.tempo])) if src.count == REPEATEDLY else int(src.count)
        slot = (e - s) / events
        length = int(min(p["dur"] * SAMPLE_RATE, 0.8 * slot))
        for i in range(events):
            on = s + int(i * slot + rng.uniform(0.0, 1.0) * (slot - length))
            out[on : on + length] = synth(p, length, rng) * rng.uniform(0.85, 1.0)
    if src.distance == "far":
        out = _far(out, rng)
    out /= max(_loudness(out[s:e]), 1e-12)
    return CREST * np.tanh(out / CREST)  # soft-limit clicks and drops, as a recorder's limiter would


def render(scene: Scene) -> np.ndarray:
    """The scene's waveform: float32 [duration * 16000], deterministic in ``scene.seed``."""
    rng = np.random.default_rng([scene.seed, 1])
    n = int(scene.duration * SAMPLE_RATE)
    mix = np.zeros(n)
    for src, span in zip(scene.sources, _segments(scene, rng)):
        lo, hi = LEVEL_DB[src.loudness]
        mix += _track(src, span, n, rng) * 10 ** (rng.uniform(lo, hi) / 20)
    if scene.background is not None:
        params, synth = RECIPES[BACKGROUNDS[scene.background]]
        bg = _norm(synth(params(rng, None), n, rng))
        mix += bg * _loudness(mix) * 10 ** (-scene.snr_db / 20)
    peak = np.abs(mix).max()
    if peak > 0.98:  # a limiter for the rare loud impulsive mix
        mix *= 0.98 / peak
    return mix.astype(np.float32)


def content_hash(audio: Iterable[np.ndarray] = (), texts: Iterable[str] = ()) -> str:
    """sha256 over audio bytes and UTF-8 texts: the recorded fingerprint of a generation."""
    h = hashlib.sha256()
    for a in audio:
        h.update(np.ascontiguousarray(a, dtype=np.float32).tobytes())
    for s in texts:
        h.update(s.encode("utf-8") + b"\0")
    return h.hexdigest()
