"""Text of the tiny world, generated from a :class:`~mats_tiny.world.Scene` description.

Captions come from a grammar with many clause templates, synonyms for every noun, verb and
modifier, and annotator-like omission: a reference may leave out a minor detail (loudness,
pitch, distance, tempo, background, sometimes the count), as Clotho's five annotators do, so
one scene has many distinct paraphrases and a test caption is rarely in the training text
verbatim. Training text for questions states every attribute (:func:`caption` with
``omit=0``), so each answer is in the text, which is what text-only (MATS) training needs.
Instructions follow the paper's prompt families.
"""

from __future__ import annotations

import numpy as np

from mats_tiny.world import COUNTABLE, REPEATEDLY, Scene, Source

# agent noun phrases, (3rd-person verb, gerund) pairs, event nouns ("two barks") and the label phrase
LEXICON: dict[str, dict[str, list]] = {
    # animals
    "bark": {
        "np": ["a dog", "a small dog", "a big dog", "a puppy", "a hound"],
        "vb": [("barks", "barking"), ("woofs", "woofing"), ("yaps", "yapping")],
        "ev": ["bark", "woof"],
    },
    "bird": {
        "np": ["a bird", "a small bird", "a songbird", "a sparrow"],
        "vb": [("chirps", "chirping"), ("tweets", "tweeting"), ("sings", "singing"), ("calls", "calling")],
        "ev": ["chirp", "tweet", "bird call"],
    },
    "meow": {
        "np": ["a cat", "a kitten", "a house cat"],
        "vb": [("meows", "meowing"), ("mews", "mewing"), ("cries", "crying")],
        "ev": ["meow", "mew"],
    },
    "crow": {
        "np": ["a crow", "a raven", "a large black bird"],
        "vb": [("caws", "cawing"), ("croaks harshly", "croaking harshly")],
        "ev": ["caw", "crow call"],
    },
    "frog": {
        "np": ["a frog", "a toad", "a bullfrog"],
        "vb": [("croaks", "croaking"), ("ribbits", "ribbiting")],
        "ev": ["croak", "ribbit"],
    },
    "cricket": {
        "np": ["a cricket", "an insect", "a grasshopper"],
        "vb": [("chirps", "chirping"), ("trills", "trilling"), ("buzzes", "buzzing")],
        "ev": ["cricket"],
    },
    # vehicles
    "engine": {
        "np": ["an engine", "a motor", "a running engine", "an idling car"],
        "vb": [("hums", "humming"), ("rumbles", "rumbling"), ("idles", "idling")],
        "ev": ["engine"],
    },
    "horn": {
        "np": ["a car horn", "a horn", "a driver", "a truck horn"],
        "vb": [("honks", "honking"), ("beeps the horn", "beeping the horn"), ("toots", "tooting")],
        "ev": ["honk", "horn blast", "toot"],
    },
    "train": {
        "np": ["a train", "a passing train", "a railway train", "a freight train"],
        "vb": [("rattles along", "rattling along"), ("clatters", "clattering"), ("rolls by", "rolling by")],
        "ev": ["train"],
    },
    "motorcycle": {
        "np": ["a motorcycle", "a motorbike", "a scooter"],
        "vb": [("revs", "revving"), ("roars", "roaring"), ("speeds by", "speeding by")],
        "ev": ["motorcycle"],
    },
    "airplane": {
        "np": ["an airplane", "a jet", "a plane", "an aircraft"],
        "vb": [("flies overhead", "flying overhead"), ("roars", "roaring"), ("passes over", "passing over")],
        "ev": ["airplane"],
    },
    "helicopter": {
        "np": ["a helicopter", "a chopper"],
        "vb": [("whirs", "whirring"), ("hovers", "hovering"), ("flies by", "flying by")],
        "ev": ["helicopter"],
    },
    # tools
    "drill": {
        "np": ["a drill", "a power drill", "an electric drill"],
        "vb": [("whirs", "whirring"), ("drills", "drilling"), ("whines", "whining")],
        "ev": ["drill"],
    },
    "saw": {
        "np": ["a saw", "a hand saw", "a carpenter"],
        "vb": [("saws", "sawing"), ("cuts wood", "cutting wood"), ("rasps", "rasping")],
        "ev": ["saw"],
    },
    "hammer": {
        "np": ["a hammer", "a worker", "someone"],
        "vb": [("hammers", "hammering"), ("strikes metal", "striking metal"), ("bangs", "banging")],
        "ev": ["hammer blow", "bang", "hammer strike"],
    },
    "typing": {
        "np": ["someone", "a typist", "a person", "an office worker"],
        "vb": [("types", "typing"), ("types on a keyboard", "typing on a keyboard"), ("taps keys", "tapping keys")],
        "ev": ["typing"],
    },
    "sanding": {
        "np": ["sandpaper", "a sander", "a worker"],
        "vb": [("scrapes", "scraping"), ("sands", "sanding"), ("scratches", "scratching")],
        "ev": ["sanding"],
    },
    "ratchet": {
        "np": ["a ratchet", "a wrench", "a mechanic"],
        "vb": [("clicks", "clicking"), ("ratchets", "ratcheting"), ("cranks", "cranking")],
        "ev": ["ratchet"],
    },
    # water and weather
    "rain": {
        "np": ["rain", "the rain", "rainfall", "a downpour"],
        "vb": [("falls", "falling"), ("patters", "pattering"), ("pours down", "pouring down")],
        "ev": ["rain"],
    },
    "wind": {
        "np": ["the wind", "wind", "a gusty wind", "a breeze"],
        "vb": [("blows", "blowing"), ("howls", "howling"), ("gusts", "gusting")],
        "ev": ["wind"],
    },
    "drip": {
        "np": ["water", "a leaky tap", "a faucet", "a pipe"],
        "vb": [("drips", "dripping"), ("drops", "dropping"), ("trickles", "trickling")],
        "ev": ["drip", "water drop", "drop"],
    },
    "stream": {
        "np": ["a stream", "a brook", "a creek", "a small river"],
        "vb": [("babbles", "babbling"), ("flows", "flowing"), ("gurgles", "gurgling")],
        "ev": ["stream"],
    },
    "waves": {
        "np": ["the waves", "ocean waves", "breaking waves", "sea waves"],
        "vb": [("crash", "crashing"), ("wash ashore", "washing ashore"), ("roll in", "rolling in")],
        "ev": ["waves"],
    },
    "splash": {
        "np": ["something", "a swimmer", "a stone", "an object"],
        "vb": [("splashes", "splashing"), ("splashes into water", "splashing into water")],
        "ev": ["splash", "plop"],
    },
    # household
    "clock": {
        "np": ["a clock", "a wall clock", "a mechanical clock", "a watch"],
        "vb": [("ticks", "ticking"), ("tick-tocks", "tick-tocking")],
        "ev": ["clock"],
    },
    "knock": {
        "np": ["someone", "a visitor", "a person"],
        "vb": [
            ("knocks", "knocking"),
            ("knocks on a door", "knocking on a door"),
            ("raps on the door", "rapping on the door"),
        ],
        "ev": ["knock", "rap"],
    },
    "footsteps": {
        "np": ["someone", "a person", "a man", "a woman"],
        "vb": [("walks", "walking"), ("takes steps", "taking steps"), ("steps", "stepping")],
        "ev": ["footstep", "step"],
    },
    "vacuum": {
        "np": ["a vacuum cleaner", "a vacuum", "a hoover"],
        "vb": [("runs", "running"), ("drones", "droning"), ("whirs", "whirring")],
        "ev": ["vacuum"],
    },
    "doorbell": {
        "np": ["a doorbell", "a door chime", "a bell at the door"],
        "vb": [("rings", "ringing"), ("chimes", "chiming"), ("dings", "dinging")],
        "ev": ["ding-dong", "chime"],
    },
    "kettle": {
        "np": ["a kettle", "a tea kettle", "a whistling kettle"],
        "vb": [("whistles", "whistling"), ("boils", "boiling"), ("shrieks", "shrieking")],
        "ev": ["kettle"],
    },
    # instruments
    "bell": {
        "np": ["a bell", "a church bell", "a metal bell", "a hand bell"],
        "vb": [("rings", "ringing"), ("chimes", "chiming"), ("tolls", "tolling")],
        "ev": ["ring", "chime", "bell toll"],
    },
    "drum": {
        "np": ["a drum", "a bass drum", "a big drum", "a drummer"],
        "vb": [("is struck", "being struck"), ("booms", "booming"), ("thumps", "thumping")],
        "ev": ["drum hit", "drum beat", "drum stroke"],
    },
    "piano": {
        "np": ["a piano", "a pianist", "a keyboard"],
        "vb": [("plays a note", "playing a note"), ("plays", "playing"), ("sounds a key", "sounding a key")],
        "ev": ["piano note", "note", "key"],
    },
    "guitar": {
        "np": ["a guitar", "a guitarist", "an acoustic guitar"],
        "vb": [("is plucked", "being plucked"), ("strums", "strumming"), ("plays a note", "playing a note")],
        "ev": ["plucked note", "guitar note", "pluck"],
    },
    "flute": {
        "np": ["a flute", "a flautist", "a recorder"],
        "vb": [("plays", "playing"), ("plays a note", "playing a note"), ("toots", "tooting")],
        "ev": ["flute note", "note"],
    },
    "violin": {
        "np": ["a violin", "a violinist", "a fiddle"],
        "vb": [("plays", "playing"), ("bows a note", "bowing a note"), ("sings", "singing")],
        "ev": ["violin note", "bowed note", "note"],
    },
    # alarms and electronics
    "beep": {
        "np": ["an electronic device", "a machine", "a timer", "a digital device", "a microwave"],
        "vb": [("beeps", "beeping"), ("emits a beep", "emitting a beep"), ("bleeps", "bleeping")],
        "ev": ["beep", "bleep", "electronic tone"],
    },
    "siren": {
        "np": ["a siren", "an emergency siren", "a police siren", "an ambulance siren"],
        "vb": [("wails", "wailing"), ("blares", "blaring"), ("sounds", "sounding")],
        "ev": ["siren"],
    },
    "alarm": {
        "np": ["an alarm", "an alarm clock", "a fire alarm", "a security alarm"],
        "vb": [("goes off", "going off"), ("sounds", "sounding"), ("shrills", "shrilling")],
        "ev": ["alarm"],
    },
    "buzzer": {
        "np": ["a buzzer", "a game show buzzer", "an electric buzzer"],
        "vb": [("buzzes", "buzzing"), ("sounds", "sounding"), ("drones", "droning")],
        "ev": ["buzz", "buzzer"],
    },
    "phone": {
        "np": ["a phone", "a telephone", "a cell phone", "a mobile phone"],
        "vb": [("rings", "ringing"), ("trills", "trilling")],
        "ev": ["ring", "ringtone"],
    },
    "whistle": {
        "np": ["a whistle", "a referee", "a coach"],
        "vb": [("whistles", "whistling"), ("blows a whistle", "blowing a whistle"), ("shrills", "shrilling")],
        "ev": ["whistle blast", "whistle", "blast"],
    },
    # people
    "clap": {
        "np": ["a person", "someone", "an audience member", "a spectator"],
        "vb": [("claps", "clapping"), ("claps their hands", "clapping their hands"), ("applauds", "applauding")],
        "ev": ["hand clap", "clap"],
    },
    "babble": {
        "np": ["a crowd", "a group of people", "a gathering", "many people"],
        "vb": [("chatters", "chattering"), ("murmurs", "murmuring"), ("talks", "talking")],
        "ev": ["crowd chatter", "babble"],
    },
    "laugh": {
        "np": ["a person", "someone", "a man", "a woman", "a child"],
        "vb": [("laughs", "laughing"), ("chuckles", "chuckling"), ("giggles", "giggling")],
        "ev": ["laugh", "burst of laughter"],
    },
    "cough": {
        "np": ["a person", "someone", "a man", "a woman", "a patient"],
        "vb": [("coughs", "coughing"), ("clears their throat", "clearing their throat")],
        "ev": ["cough"],
    },
    "speech": {
        "np": ["a man", "a woman", "a person", "a speaker", "someone"],
        "vb": [("speaks", "speaking"), ("talks", "talking"), ("says something", "saying something")],
        "ev": ["speech"],
    },
    "snore": {
        "np": ["a sleeper", "a man", "someone", "a sleeping person"],
        "vb": [("snores", "snoring"), ("breathes heavily", "breathing heavily")],
        "ev": ["snore"],
    },
}
# A pure-label phrase per class: what the "which source" answer and the zero-shot prompts say.
LABEL_PHRASE = {
    "bark": "a dog barking",
    "bird": "a bird chirping",
    "meow": "a cat meowing",
    "crow": "a crow cawing",
    "frog": "a frog croaking",
    "cricket": "crickets chirping",
    "engine": "an engine",
    "horn": "a car horn",
    "train": "a train",
    "motorcycle": "a motorcycle",
    "airplane": "an airplane",
    "helicopter": "a helicopter",
    "drill": "a drill",
    "saw": "a saw",
    "hammer": "hammering",
    "typing": "typing",
    "sanding": "sanding",
    "ratchet": "a ratchet",
    "rain": "rain",
    "wind": "wind",
    "drip": "water dripping",
    "stream": "a stream",
    "waves": "waves",
    "splash": "a splash",
    "clock": "a clock ticking",
    "knock": "knocking",
    "footsteps": "footsteps",
    "vacuum": "a vacuum cleaner",
    "doorbell": "a doorbell",
    "kettle": "a kettle",
    "bell": "a bell",
    "drum": "a drum",
    "piano": "a piano",
    "guitar": "a guitar",
    "flute": "a flute",
    "violin": "a violin",
    "beep": "beeping",
    "siren": "a siren",
    "alarm": "an alarm",
    "buzzer": "a buzzer",
    "phone": "a phone ringing",
    "whistle": "a whistle",
    "clap": "clapping",
    "babble": "people talking",
    "laugh": "laughter",
    "cough": "coughing",
    "speech": "a person speaking",
    "snore": "snoring",
}
COUNT_ADV = {
    1: ["once", "one time", "a single time", "just once"],
    2: ["twice", "two times"],
    3: ["three times", "thrice"],
    REPEATEDLY: ["repeatedly", "over and over", "again and again", "several times", "many times"],
}
COUNT_ADJ = {1: ["a single", "one"], 2: ["two"], 3: ["three"], REPEATEDLY: ["repeated", "several", "many"]}
LOUD_ADV = {
    "quiet": ["quietly", "softly", "faintly", "gently"],
    "loud": ["loudly", "noisily", "very loudly"],
    "normal": [""],
}
LOUD_ADJ = {"quiet": ["quiet", "soft", "faint"], "loud": ["loud", "very loud", "noisy"], "normal": [""]}
PITCH_ADJ = {"low": ["low", "low-pitched", "deep"], "high": ["high", "high-pitched", "shrill"], None: [""]}
DISTANCE_ADV = {
    "near": ["nearby", "close by", "up close", "right next to the microphone"],
    "far": ["in the distance", "far away", "from afar", "somewhere far off"],
    None: [""],
}
DISTANCE_ADJ = {"near": ["nearby", "close"], "far": ["distant", "faraway"], None: [""]}
TEMPO_ADV = {
    "slow": ["slowly", "at a slow pace", "with long pauses"],
    "fast": ["rapidly", "quickly", "in quick succession", "at a fast pace"],
    None: [""],
}
BACKGROUND = {
    "rain": [
        "with rain in the background",
        "over the sound of light rain",
        "while rain falls in the background",
        "as rain patters behind",
    ],
    "wind": [
        "with wind in the background",
        "over a soft wind",
        "while wind blows in the background",
        "against a windy background",
    ],
    "hum": [
        "with a low hum in the background",
        "over a steady electrical hum",
        "over a faint humming noise",
        "with a mains hum underneath",
    ],
    "crowd": ["with a crowd murmuring in the background", "over distant chatter", "amid background conversation"],
    "water": ["with running water in the background", "over the sound of a stream", "as water flows behind"],
}
THEN = [
    "{a}, then {b}",
    "{a}, followed by {gb}",
    "{a} and then {b}",
    "first {a}, then {b}",
    "{a}, after which {b}",
    "{a}; afterwards {b}",
    "{a} before {gb}",
    "{a}, and later {b}",
]
WHILE = [
    "{a} while {b}",
    "{b} while {a}",
    "{a} as {b}",
    "{a}, and at the same time {b}",
    "{a} with {g} at the same time",
    "you can hear {ga} and {g} at the same time",
    "{a}, with {g} all the while",
    "{ga} mixes with {g}",
]
SINGLE = [
    "{fin}",
    "{fin}",
    "you can hear {ger}",
    "the sound of {ger}",
    "{nom} can be heard",
    "there is {ger}",
    "{nom} is heard",
    "in this recording {fin}",
    "a recording of {ger}",
    "we hear {ger}",
]
# How often an annotator leaves a detail out of a caption (0 in question-training text).
OMIT = {"loudness": 0.3, "pitch": 0.3, "distance": 0.3, "tempo": 0.3, "count": 0.15, "background": 0.3}


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
TEST_PROMPT = {
    "caption": "Describe the following audio in a caption.",
    "classification": "Identify the sounds in the audio clip, only display audio tags.",
}
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


def _keep(rng: np.random.Generator, detail: str, omit: float) -> bool:
    return not omit or rng.random() >= OMIT[detail] * omit


def clause(src: Source, rng: np.random.Generator, omit: float = 1.0) -> tuple[str, str, str]:
    """Three surface forms of one source: (finite clause, gerund clause, noun phrase);
    e.g. ("a big dog barks twice loudly", "a big dog barking twice loudly", "two loud barks").
    ``omit`` scales :data:`OMIT` (0: every attribute is stated)."""
    lex = LEXICON[src.cls]
    np_, (verb, ger) = pick(rng, lex["np"]), pick(rng, lex["vb"])
    pitch = pick(rng, PITCH_ADJ[src.pitch if _keep(rng, "pitch", omit) else None])
    loudness = src.loudness if _keep(rng, "loudness", omit) else "normal"
    loud_adj, loud_adv = pick(rng, LOUD_ADJ[loudness]), pick(rng, LOUD_ADV[loudness])
    distance = src.distance if _keep(rng, "distance", omit) else None
    dist_adj, dist_adv = pick(rng, DISTANCE_ADJ[distance]), pick(rng, DISTANCE_ADV[distance])
    tempo = pick(rng, TEMPO_ADV[src.tempo if _keep(rng, "tempo", omit) else None])
    countable = src.cls in COUNTABLE
    count = pick(rng, COUNT_ADV[src.count]) if countable and _keep(rng, "count", omit) else ""
    subject = _with_adjectives(np_, pitch)
    adverbs = [w for w in (count, loud_adv, tempo, dist_adv) if w]
    adverbs = [adverbs[i] for i in rng.permutation(len(adverbs))]
    fin, gerund = _join(subject, verb, *adverbs), _join(subject, ger, *adverbs)
    if countable:
        ev = pick(rng, lex["ev"])
        plural = ev if src.count == 1 else ev + "s"
        nominal = _join(pick(rng, COUNT_ADJ[src.count]), loud_adj, dist_adj, pitch, plural, tempo)
    else:
        nominal = _join("the sound of", _with_adjectives(np_, _join(loud_adj, dist_adj, pitch)), ger)
    return fin, gerund, nominal


def caption(scene: Scene, rng: np.random.Generator, omit: float = 1.0) -> str:
    """One caption of the scene, drawn from the grammar with ``rng`` (``omit``: see :func:`clause`)."""
    forms = [clause(s, rng, omit) for s in scene.sources]
    if len(forms) == 1:
        fin, ger, nom = forms[0]
        text = pick(rng, SINGLE).format(fin=fin, ger=ger, nom=nom)
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
    if scene.background and _keep(rng, "background", omit):
        text = f"{text} {pick(rng, BACKGROUND[scene.background])}"
    return text[0].upper() + text[1:] + "."


def captions(scene: Scene, k: int = 5, salt: int = 0, omit: float = 1.0) -> list[str]:
    """``k`` distinct captions of the scene (deterministic in its seed, ``salt`` and ``omit``)."""
    rng = np.random.default_rng([scene.seed, 2, salt])
    out: list[str] = []
    for _ in range(50 * k):
        c = caption(scene, rng, omit)
        if c not in out:
            out.append(c)
            if len(out) == k:
                return out
    raise RuntimeError(f"scene {scene.seed}: the grammar gave only {len(out)} distinct captions, {k} asked")


def label(scene: Scene) -> str | None:
    """The class label of a single-source scene (None for mixtures)."""
    return scene.sources[0].cls if len(scene.sources) == 1 else None


QUESTION_KINDS = ("presence", "source", "count", "order", "overlap", "loudness", "distance")


def questions(scene: Scene, rng: np.random.Generator, absent: str) -> list[tuple[str, str, str]]:
    """(kind, question, short answer) pairs answerable from the scene's full captions, with
    answers balanced so that the question alone scores at chance: presence asks about a
    present or an ``absent`` class by a coin flip, "which comes first" names the pair in
    random order, and the either-or questions list their options in random order."""
    what = LABEL_PHRASE
    out = []
    if rng.random() < 0.5:
        src = scene.sources[int(rng.integers(len(scene.sources)))]
        out.append(
            (
                "presence",
                pick(rng, ["Do you hear {}?", "Can you hear {}?", "Is there {}?"]).format(what[src.cls]),
                "yes",
            )
        )
    else:
        out.append(
            ("presence", pick(rng, ["Do you hear {}?", "Can you hear {}?", "Is there {}?"]).format(what[absent]), "no")
        )
    if len(scene.sources) == 1:
        out.append(
            (
                "source",
                pick(rng, ["What is making the sound?", "Which sound source do you hear?", "What do you hear?"]),
                what[scene.sources[0].cls],
            )
        )
    counted = [s for s in scene.sources if s.cls in COUNTABLE]
    if counted:
        s = counted[int(rng.integers(len(counted)))]
        noun = pick(rng, LEXICON[s.cls]["ev"])
        out.append(("count", f"How many times do you hear the {noun}? One, two, three or many?", NUMBER_WORD[s.count]))
    if len(scene.sources) >= 2 and not scene.overlap:
        i, j = sorted(rng.choice(len(scene.sources), 2, replace=False).tolist())
        a, b = scene.sources[i].cls, scene.sources[j].cls
        first, second = (a, b) if rng.random() < 0.5 else (b, a)
        if rng.random() < 0.5:
            out.append(("order", f"Which sound comes first, {what[first]} or {what[second]}?", what[a]))
        else:
            out.append(("order", f"Which sound comes last, {what[first]} or {what[second]}?", what[b]))
    if len(scene.sources) == 2:
        a, b = (what[s.cls] for s in scene.sources)
        out.append(("overlap", f"Do you hear {a} and {b} at the same time?", "yes" if scene.overlap else "no"))
    # attribute, its two marked values, how the question words them
    for attr, values, words in (
        ("loudness", ("loud", "quiet"), ("loud", "quiet")),
        ("distance", ("near", "far"), ("near", "far away")),
    ):
        marked = [s for s in scene.sources if getattr(s, attr) in values]
        if marked:
            s = marked[int(rng.integers(len(marked)))]
            first, second = words if rng.random() < 0.5 else words[::-1]
            out.append((attr, f"Is {what[s.cls]} {first} or {second}?", getattr(s, attr)))
    return out
