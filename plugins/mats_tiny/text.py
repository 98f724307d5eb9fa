"""Text of the tiny world, generated from a :class:`~mats_tiny.world.Scene` description.

Captions come from a small grammar (several clause templates, synonyms for every noun,
verb and modifier), so one scene has many paraphrases, as Clotho's five annotators give.
Every caption states all of the scene's attributes (count, loudness, pitch, order or
overlap, background), so questions about them are answerable from the text alone: that
is what text-only (MATS) training needs. Instructions follow the paper's prompt families.
"""
from __future__ import annotations

import numpy as np

from mats_tiny.world import COUNTABLE, REPEATEDLY, Scene, Source

# agent noun phrases, (3rd-person verb, gerund) pairs, and event nouns for "two barks"
LEXICON: dict[str, dict[str, list]] = {
    "beep": {"np": ["an electronic device", "a machine", "a timer", "a digital device"],
             "vb": [("beeps", "beeping"), ("emits a beep", "emitting a beep")], "ev": ["beep", "bleep", "electronic tone"]},
    "siren": {"np": ["a siren", "an emergency siren", "a police siren", "an ambulance siren"],
              "vb": [("wails", "wailing"), ("blares", "blaring"), ("sounds", "sounding")], "ev": ["siren"]},
    "engine": {"np": ["an engine", "a motor", "a vehicle", "a running engine"],
               "vb": [("hums", "humming"), ("rumbles", "rumbling"), ("idles", "idling")], "ev": ["engine"]},
    "rain": {"np": ["rain", "the rain", "rainfall"],
             "vb": [("falls", "falling"), ("patters", "pattering"), ("pours down", "pouring down")], "ev": ["rain"]},
    "wind": {"np": ["the wind", "wind", "a gusty wind"],
             "vb": [("blows", "blowing"), ("howls", "howling"), ("gusts", "gusting")], "ev": ["wind"]},
    "bell": {"np": ["a bell", "a church bell", "a metal bell"],
             "vb": [("rings", "ringing"), ("chimes", "chiming"), ("tolls", "tolling")], "ev": ["ring", "chime", "bell toll"]},
    "drum": {"np": ["a drum", "a bass drum", "a big drum"],
             "vb": [("is struck", "being struck"), ("booms", "booming"), ("thumps", "thumping")],
             "ev": ["drum hit", "drum beat", "drum stroke"]},
    "clap": {"np": ["a person", "someone", "an audience member"],
             "vb": [("claps", "clapping"), ("claps their hands", "clapping their hands")], "ev": ["hand clap", "clap"]},
    "bird": {"np": ["a bird", "a small bird", "a songbird"],
             "vb": [("chirps", "chirping"), ("tweets", "tweeting"), ("sings", "singing")], "ev": ["chirp", "tweet", "bird call"]},
    "clock": {"np": ["a clock", "a wall clock", "a mechanical clock"],
              "vb": [("ticks", "ticking"), ("tick-tocks", "tick-tocking")], "ev": ["clock"]},
    "alarm": {"np": ["an alarm", "an alarm clock", "a fire alarm", "a buzzer"],
              "vb": [("goes off", "going off"), ("buzzes", "buzzing"), ("rings", "ringing")], "ev": ["alarm"]},
    "drip": {"np": ["water", "a leaky tap", "a faucet"],
             "vb": [("drips", "dripping"), ("drops", "dropping")], "ev": ["drip", "water drop", "drop"]},
    "bark": {"np": ["a dog", "a small dog", "a big dog", "a puppy"],
             "vb": [("barks", "barking"), ("woofs", "woofing")], "ev": ["bark", "woof"]},
    "babble": {"np": ["a crowd", "a group of people", "a gathering"],
               "vb": [("chatters", "chattering"), ("murmurs", "murmuring"), ("talks", "talking")],
               "ev": ["crowd chatter", "babble", "people talking"]},
}
COUNT_ADV = {1: ["once", "one time", "a single time"], 2: ["twice", "two times"], 3: ["three times", "thrice"],
             REPEATEDLY: ["repeatedly", "over and over", "again and again", "several times"]}
COUNT_ADJ = {1: ["a single", "one"], 2: ["two"], 3: ["three"], REPEATEDLY: ["repeated", "several", "many"]}
LOUD_ADV = {"quiet": ["quietly", "softly", "faintly"], "loud": ["loudly", "noisily"], "normal": [""]}
LOUD_ADJ = {"quiet": ["quiet", "soft", "faint"], "loud": ["loud", "very loud"], "normal": [""]}
PITCH_ADJ = {"low": ["low", "low-pitched", "deep"], "high": ["high", "high-pitched", "shrill"], None: [""]}
BACKGROUND = {
    "rain": ["with rain in the background", "over the sound of light rain", "while rain falls in the background"],
    "wind": ["with wind in the background", "over a soft wind", "while wind blows in the background"],
    "hum": ["with a low hum in the background", "over a steady electrical hum", "over a faint humming noise"],
}
THEN = ["{a}, then {b}", "{a}, followed by {gb}", "{a} and then {b}", "first {a}, then {b}", "{a}, after which {b}"]
WHILE = ["{a} while {b}", "{b} while {a}", "{a} as {b}", "{a}, and at the same time {b}",
         "{a} with {g} at the same time", "you can hear {ga} and {g} at the same time"]
# A pure-label phrase per class: what a classifier answers and what zero-shot prompts use.
LABEL_PHRASE = {"beep": "beeping", "siren": "a siren", "engine": "an engine", "rain": "rain", "wind": "wind",
                "bell": "a bell", "drum": "a drum", "clap": "clapping", "bird": "a bird chirping", "clock": "a clock ticking",
                "alarm": "an alarm", "drip": "water dripping", "bark": "a dog barking", "babble": "people talking"}


class LabelPrompt(str):
    """A zero-shot prompt template (``"the sound of {label}."``) that writes a class as its
    :data:`LABEL_PHRASE` ("bark" -> "a dog barking"): the tiny CLAP learnt captions, never the
    bare class names, so ``template.format(label="bark")`` must say what a caption would.
    It is a ``str`` because the harness' zero-shot reference calls ``task.label_prompt.format(label=...)``."""

    def format(self, *args, **kwargs) -> str:
        if isinstance(kwargs.get("label"), str):
            kwargs["label"] = LABEL_PHRASE.get(kwargs["label"], kwargs["label"])
        return super().format(*args, **kwargs)


# The single template of build.ZERO_SHOT_TEMPLATES that scores best on the val split (tied with "{}.").
LABEL_PROMPT = LabelPrompt("the sound of {label}.")

CAPTION_PROMPTS = [
    "Listen to this audio clip and provide its caption.",
    "Describe the following audio in a caption.",
    "Based on the sound you hear, create a caption for this audio.",
    "What does this audio describe?",
    "Please describe the audio.",
]
CLASSIFY_PROMPTS = [
    "Classify audio event for given clip.",
    "What noises can you hear? Only extract audio tags.",
    "Identify the sounds in the audio clip, only display audio tags.",
    "Classify events in the audio clip.",
    "Identify audio clip sound, produce only sound tags.",
]
TEST_PROMPT = {"caption": "Describe the following audio in a caption.",
               "classification": "Identify the sounds in the audio clip, only display audio tags."}
NUMBER_WORD = {1: "one", 2: "two", 3: "three", REPEATEDLY: "many"}


def pick(rng: np.random.Generator, options: list):
    return options[int(rng.integers(len(options)))]


def _join(*words: str) -> str:
    return " ".join(w for w in words if w)


def _with_adjectives(np_: str, adjectives: str) -> str:
    """Put adjectives after the noun phrase's determiner: ("a bell", "loud") -> "a loud bell"."""
    if not adjectives:
        return np_
    det, _, rest = np_.partition(" ")
    if det in ("a", "an"):
        return _join("an" if adjectives[0] in "aeiou" else "a", adjectives, rest)
    if det == "the":
        return _join("the", adjectives, rest)
    return _join(adjectives, np_)


def clause(src: Source, rng: np.random.Generator) -> tuple[str, str, str]:
    """Three surface forms of one source: (finite clause, gerund clause, noun phrase);
    e.g. ("a big dog barks twice loudly", "a big dog barking twice loudly", "two loud barks")."""
    lex = LEXICON[src.cls]
    np_, (verb, ger) = pick(rng, lex["np"]), pick(rng, lex["vb"])
    pitch = pick(rng, PITCH_ADJ[src.pitch])
    loud_adj, loud_adv = pick(rng, LOUD_ADJ[src.loudness]), pick(rng, LOUD_ADV[src.loudness])
    count = pick(rng, COUNT_ADV[src.count]) if src.cls in COUNTABLE else ""
    subject = _with_adjectives(np_, pitch)
    fin = _join(subject, verb, count, loud_adv)
    gerund = _join(subject, ger, count, loud_adv)
    if src.cls in COUNTABLE:
        ev = pick(rng, lex["ev"])
        plural = ev if src.count == 1 else ev + "s"
        nominal = _join(pick(rng, COUNT_ADJ[src.count]), loud_adj, pitch, plural)
    else:
        nominal = _join("the sound of", _with_adjectives(np_, _join(loud_adj, pitch)), ger)
    return fin, gerund, nominal


def caption(scene: Scene, rng: np.random.Generator) -> str:
    """One caption of the scene, drawn from the grammar with ``rng``."""
    forms = [clause(s, rng) for s in scene.sources]
    if len(forms) == 1:
        fin, ger, nom = forms[0]
        text = pick(rng, [fin, fin, "you can hear " + ger, "the sound of " + ger, nom + " can be heard", "there is " + ger])
    elif scene.overlap:
        (a, ga, _), (b, g, _) = forms
        text = pick(rng, WHILE).format(a=a, b=b, g=g, ga=ga)
    else:
        text = forms[0][0]
        for fin, ger, _ in forms[1:]:
            template = pick(rng, THEN)
            if template.startswith("first") and text != forms[0][0]:
                template = "{a}, then {b}"  # "first" only opens the sentence
            text = template.format(a=text, b=fin, gb=ger)
    if scene.background:
        text = f"{text} {pick(rng, BACKGROUND[scene.background])}"
    return text[0].upper() + text[1:] + "."


def captions(scene: Scene, k: int = 5, salt: int = 0) -> list[str]:
    """``k`` distinct captions of the scene (deterministic in its seed and ``salt``)."""
    rng = np.random.default_rng([scene.seed, 2, salt])
    out: list[str] = []
    for _ in range(50 * k):
        c = caption(scene, rng)
        if c not in out:
            out.append(c)
            if len(out) == k:
                return out
    raise RuntimeError(f"scene {scene.seed}: the grammar gave only {len(out)} distinct captions, {k} asked")


def label(scene: Scene) -> str | None:
    """The class label of a single-source scene (None for mixtures)."""
    return scene.sources[0].cls if len(scene.sources) == 1 else None


def questions(scene: Scene, rng: np.random.Generator, absent: str) -> list[tuple[str, str, str]]:
    """(kind, question, short answer) pairs answerable from the scene's captions.
    ``absent`` is a class not in the scene (for a "no" presence question)."""
    out = []
    src = scene.sources[int(rng.integers(len(scene.sources)))]
    what = LABEL_PHRASE
    out.append(("presence", f"Do you hear {what[src.cls]}?", "yes"))
    out.append(("presence", f"Can you hear {what[absent]}?", "no"))
    counted = [s for s in scene.sources if s.cls in COUNTABLE]
    if counted:
        s = counted[int(rng.integers(len(counted)))]
        noun = pick(rng, LEXICON[s.cls]["ev"])
        out.append(("count", f"How many times do you hear the {noun}?", NUMBER_WORD[s.count]))
    if len(scene.sources) >= 2 and not scene.overlap:
        i, j = sorted(rng.choice(len(scene.sources), 2, replace=False).tolist())
        a, b = scene.sources[i].cls, scene.sources[j].cls
        if rng.random() < 0.5:
            out.append(("order", f"Which sound comes first, {what[a]} or {what[b]}?", what[a]))
        else:
            out.append(("order", f"Which sound comes last, {what[a]} or {what[b]}?", what[b]))
    if len(scene.sources) == 2 and scene.overlap:
        out.append(("overlap", f"Do you hear {what[scene.sources[0].cls]} and {what[scene.sources[1].cls]} at the same time?", "yes"))
    elif len(scene.sources) >= 2:
        out.append(("overlap", f"Do you hear {what[scene.sources[0].cls]} and {what[scene.sources[1].cls]} at the same time?", "no"))
    loud = [s for s in scene.sources if s.loudness != "normal"]
    if loud:
        s = loud[int(rng.integers(len(loud)))]
        out.append(("loudness", f"Is {what[s.cls]} loud or quiet?", s.loudness))
    return out
