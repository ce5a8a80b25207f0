"""Compile: a routine and one level → a `Program` of coaching steps, then a timed `Timeline`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ..core.errors import ScriptError
from ..model.phrases import PhraseError, Phrases
from ..model.routine import Encourage
from ..model.script import Circuit, Cues, Dosage, Exercise, Routine
from ..model.settings import Settings
from ..model.sounds import SoundSettings, sound_ms
from .spoken import speak_numbers
from .timeline import ChapterPlan, Cue, FitError, Pause, Program, Role, Say, Sound, Step, Timeline, Window, layout
from .wording import Coach, encouraged, place_encouragements


def compile_level(routine: Routine, level_id: str, settings: Settings | None = None) -> Program:
    """Turn every exercise's dosage for `level_id` into spoken cues, pauses and exact windows.
    Clinic `settings` add their intro before the script's, their outro after it, a disclaimer
    and a contact line (numbers in clinic text are read as spoken.py says)."""
    settings = settings or Settings()
    level = routine.level(level_id)
    level_id = level.id
    say = phrases_for(routine)
    gap = Pause(routine.gap_ms)
    chapters: list[ChapterPlan] = []

    def clinic(text: str | None, role: Role) -> list[Step]:
        return [Say(speak_numbers(text, say), role), gap] if text else []

    title = say("session_intro", title=routine.title, level=level_title(routine, level_id, say))
    intro: list[Step] = [Say(title, "title"), gap]
    if routine.frequency:   # a programme's or prescription's "twice a day, 5 days a week"
        intro += [Say(speak_numbers(say("frequency", frequency=routine.frequency), say), "intro"), gap]
    intro += clinic(settings.intro, "intro")
    if routine.intro:
        intro += [Say(routine.intro, "intro"), gap]
    if routine.safety:
        intro += [Say(say("safety_intro"), "safety")]
        for note in routine.safety:
            intro += [Say(note, "safety"), gap]
    intro += clinic(settings.disclaimer, "disclaimer")
    if routine.warmup:
        intro += [Say(routine.warmup, "warmup"), gap]
    chapters.append(ChapterPlan(say("chapter_intro"), tuple(intro)))

    coach = Coach(say, routine.id, level.rate * routine.voice.rate)
    chapters += _exercise_chapters(routine, level_id, coach)

    outro: list[Step] = [Say(routine.outro, "outro"), gap] if routine.outro else []
    outro += [*clinic(settings.outro, "outro"), *clinic(settings.contact, "contact")]
    outro += [Say(say("session_end"), "outro"), Pause(1000, "tail")]
    chapters.append(ChapterPlan(say("chapter_closing"), tuple(outro)))
    return Program(routine.id, level_id, level.rate * routine.voice.rate, tuple(chapters), routine.path,
                   tuple(coach.used.items()))


def phrases_for(routine: Routine) -> Phrases:
    """The routine's phrase table (its language, its overrides); a gap is a script error."""
    try:
        return Phrases(routine.language, routine.phrases)
    except PhraseError as err:
        raise ScriptError(err.message, file=routine.path, key=err.key or "language", hint=err.hint) from None


def level_title(routine: Routine, level_id: str, say: Phrases | None = None) -> str:
    """The title the script gives a level, else the language's word for a default level
    (beginner, progressed) or a programme's week or stage ("week-3": "Semana 3" in Spanish),
    else the level's name capitalized."""
    level = routine.level(level_id)
    say = say or phrases_for(routine)
    if level.named:
        return level.title
    unit, _, number = level.id.rpartition("-")
    if unit in ("week", "stage") and number.isdigit():   # a programme's weeks: "Semana 3"
        return say(f"level_{unit}", n=number)
    key = f"level_{level.id}"
    return say(key) if key in say.table else level.title


def _exercise_chapters(routine: Routine, level_id: str, coach: Coach) -> list[ChapterPlan]:
    """A chapter per exercise; a circuit's exercises once per round, with a rest window
    between rounds. Later rounds skip the setup and movement descriptions."""
    active = [ex for ex in routine.exercises if not ex.dosage[level_id].skip]
    blocks = _blocks(routine, active)
    chapters: list[ChapterPlan] = []
    n = 0
    for block_index, (circuit, exercises) in enumerate(blocks):
        rounds = circuit.rounds_for(level_id) if circuit else 1
        last_block = block_index + 1 == len(blocks)
        for round_no in range(1, rounds + 1):
            for index, exercise in enumerate(exercises):
                if round_no == 1:
                    n += 1
                last_in_round = index + 1 == len(exercises)
                final = last_block and last_in_round and round_no == rounds
                chapters.append(_round_chapter(routine, level_id, coach, exercise, _Round(
                    circuit, rounds, round_no, index == 0, last_in_round, final, n, len(active))))
    return chapters


def _blocks(routine: Routine, active: list[Exercise]) -> list[tuple[Circuit | None, list[Exercise]]]:
    """The exercises in order, a circuit's consecutive exercises grouped into one block."""
    circuit_of = {ex_id: c for c in routine.circuits for ex_id in c.exercises}
    blocks: list[tuple[Circuit | None, list[Exercise]]] = []
    for exercise in active:
        circuit = circuit_of.get(exercise.id)
        if circuit is not None and blocks and blocks[-1][0] is circuit:
            blocks[-1][1].append(exercise)
        else:
            blocks.append((circuit, [exercise]))
    return blocks


@dataclass(frozen=True)
class _Round:
    """Where an exercise's chapter falls: its circuit (if any) and round, whether it opens
    or closes the round, whether it is the routine's last chapter, its number among the
    exercises."""

    circuit: Circuit | None
    rounds: int
    round_no: int
    first: bool
    last_in_round: bool
    final: bool
    n: int
    total: int


def _round_chapter(routine: Routine, level_id: str, coach: Coach, exercise: Exercise, at: _Round) -> ChapterPlan:
    """One exercise's chapter in one round of its block: the circuit's introduction before
    its first, a round rest after the last of a round that is not the last."""
    say = coach.say
    circuit, rounds, round_no = at.circuit, at.rounds, at.round_no
    opening: list[Step] = []
    if circuit and round_no == 1 and at.first and rounds > 1:
        opening = [Say(say("circuit_intro", name=circuit.name, n=rounds), "circuit"), Pause(routine.gap_ms)]
    name = exercise.cues_for(level_id).name
    if round_no == 1:
        announce = say("exercise_intro", n=at.n, total=at.total, name=name)
    else:
        announce = say("round", n=round_no, total=rounds, name=name)
    between_rounds = at.last_in_round and round_no < rounds
    chapter = _exercise_chapter(routine, exercise, level_id, announce, coach, brief=round_no > 1,
                                transition=not between_rounds and not at.final, opening=opening)
    if round_no > 1:
        chapter = replace(chapter, title=say("round_chapter", name=chapter.title, n=round_no))
    if between_rounds and circuit:
        rest = Say(say("round_rest", n=round_no + 1, total=rounds), "round_rest")
        chapter = replace(chapter, steps=(*chapter.steps, Window(circuit.rest_ms, "round_rest", (rest,)))
                          if circuit.rest_ms else (*chapter.steps, rest, Pause(routine.gap_ms)))
    return chapter


def _exercise_chapter(
    routine: Routine, exercise: Exercise, level_id: str, announce: str, coach: Coach,
    brief: bool = False, transition: bool = True, opening: list[Step] | None = None,
) -> ChapterPlan:
    """One exercise: its announcement and dosage, (unless `brief`) its caution, setup and
    movement lines, then every set, side and rep; then "Good work." and, when `transition`,
    the routine's or the exercise's transition window."""
    say = coach.say
    dose = exercise.dosage[level_id]
    cues = exercise.cues_for(level_id)
    hold = _Hold(dose, cues, routine.sounds, _encouragement(routine, exercise, cues.name, coach), exercise.id,
                 exercise.encourage is not None)
    gap = Pause(routine.gap_ms)
    steps: list[Step] = [
        *_sound(routine.sounds, "exercise"),
        *(opening or []),
        Say(announce, "announce"),
        Pause(routine.gap_ms // 2),
        Say(_describe(dose, say), "dosage"),
        gap,
    ]
    if not brief:
        if cues.caution:
            steps += [Say(cues.caution, "caution"), gap]
        for line in cues.setup:
            steps += [Say(line, "setup"), gap]
        for line in cues.movement:
            steps += [Say(line, "movement"), gap]

    sides: list[str | None] = ["right", "left"] if dose.sides == "each" else [None]
    side_rest_ms = dose.rest_ms if dose.side_rest_ms is None else dose.side_rest_ms
    for side_index, side in enumerate(sides):
        if side:
            key = "side_first" if side_index == 0 else "side_switch"
            steps += [Say(say(key, side=say(side)), "side"), gap]
        for set_no in range(1, dose.sets + 1):
            ready = say("get_ready")
            if dose.sets > 1:
                ready = f"{say('set', n=set_no, total=dose.sets)} {ready}"
            steps.append(Window(routine.get_ready_ms, "get_ready", (Say(ready, "get_ready"),)))
            steps += _reps(hold, coach)
            if set_no < dose.sets:
                steps.append(Window(dose.set_rest_ms, "set_rest",
                                    (Say(say("set_rest", n=set_no + 1, total=dose.sets), "set_rest"),)))
        if side_index + 1 < len(sides) and side_rest_ms:
            following = say(sides[side_index + 1] or "")
            steps.append(Window(side_rest_ms, "side_rest", (Say(say("side_rest", side=following), "side_rest"),)))
    done = Say(say("exercise_done"), "done")
    transition_ms = routine.transition_ms if dose.transition_ms is None else dose.transition_ms
    if transition_ms and transition:
        steps.append(Window(transition_ms, "transition", (done,)))
    else:
        steps += [done, gap]
    return ChapterPlan(cues.name, tuple(steps), exercise=cues.name, line=dose.line)


def _sound(sounds: SoundSettings, event: str) -> list[Sound]:
    """The sound for `event` as a cue, or nothing when the routine has none for it."""
    name = getattr(sounds, event)
    return [Sound(name, sound_ms(name), SOUND_ROLES[event])] if name else []


SOUND_ROLES: dict[str, Role] = {"hold_start": "hold_start_sound", "hold_end": "hold_end_sound",
                                "exercise": "exercise_sound"}


def _counts(dose: Dosage, coach: Coach) -> list[tuple[str, str]]:
    """What each rep's cue starts with: "Rep 3 of 10.", "Last one, left side.", or nothing
    for a single hold, and which wording it is. With alternating sides, reps count in total
    or per side (`count`)."""
    say = coach.say
    if dose.reps == 1 and dose.sides != "alternating":
        return [("", "")]
    per_side = dose.sides == "alternating" and dose.count == "per_side"
    out: list[tuple[str, str]] = []
    for index in range(dose.reps * 2 if per_side else dose.reps):
        side = say("right" if index % 2 == 0 else "left") if dose.sides == "alternating" else None
        n = index // 2 + 1 if per_side else index + 1
        if dose.reps == 1:     # one hold per side: name the side, never "rep 1 of 1"
            out.append((say("side_first" if index == 0 else "side_switch", side=side), ""))
        elif n == dose.reps:
            out.append((say("last_rep_side", side=side) if side else say("last_rep"), ""))
        else:
            out.append(coach.phrase("rep_side", n=n, total=dose.reps, side=side) if side
                       else coach.phrase("rep", n=n, total=dose.reps))
    return out


@dataclass(frozen=True)
class _Hold:
    """What an exercise's reps are made of at one level: its dosage, its cues, the routine's
    sounds, and what encourages its long holds (None: nothing)."""

    dose: Dosage
    cues: Cues
    sounds: SoundSettings
    encourage: Encourage | None
    exercise: str = ""                  # its id: a cue the script words several ways takes turns per exercise
    encourage_own: bool = False         # `encourage` is the exercise's own (else the routine's)


def _encouragement(routine: Routine, exercise: Exercise, name: str, coach: Coach) -> Encourage | None:
    """The exercise's or the routine's `encourage:`, if on; `true` in a language without a
    table of encouragements is an error (the script must give its own lines)."""
    chosen = encouraged(exercise.encourage, routine.encourage)
    if chosen is not None and not chosen.lines and not coach.say.encouragements:
        raise ScriptError(f"no encouragements for language '{routine.language}'", file=chosen.file or routine.path,
                          line=chosen.line, exercise=name, key="encourage",
                          hint="give the lines to say: encourage: [Keep breathing., ...]")
    return chosen


def _reps(hold: _Hold, coach: Coach) -> list[Step]:
    """Each rep as windows that start when the cue opening them ends (docs/timing.md)."""
    dose, cues, say = hold.dose, hold.cues, coach.say
    steps: list[Step] = []
    counts = _counts(dose, coach)
    for index, (count, counted) in enumerate(counts):
        more = index + 1 < len(counts)
        if dose.breath:
            first = index == 0
            inhale = cues.inhale if first and cues.inhale else f"{count} {say('inhale')}".strip()
            exhale = cues.exhale if first and cues.exhale else say("exhale")
            steps.append(Window(dose.breath.inhale_ms, "breath_in", (Say(inhale, "breath_in", counted),)))
            steps.append(Window(dose.breath.exhale_ms, "breath_out", (Say(exhale, "breath_out"),)))
        elif dose.hold_ms:
            steps += _hold(hold, coach, count, counted, more)
        elif dose.work_ms:
            go = say("interval", n=index + 1, total=len(counts)) if more or len(counts) == 1 else say("last_interval")
            steps.append(Window(dose.work_ms, "work", (Say(go, "work"),)))
            if more and dose.rest_ms:
                steps.append(Window(dose.rest_ms, "rest", (_said(coach.phrase("rest"), "rest"),)))
        else:
            text = f"{count} {cues.rep}" if cues.rep and index == 0 else count or cues.rep or say("begin")
            steps.append(Window(dose.rep_ms, "rep", (Say(text.strip(), "rep", counted if count else ""),)))
            if more and dose.rest_ms:
                steps.append(Window(dose.rest_ms, "rest", (_said(coach.phrase("rest"), "rest"),)))
    return steps


def _hold(hold: _Hold, coach: Coach, count: str, counted: str, more: bool) -> list[Step]:
    """One hold: its cue, movement time, the hold (hold-start sound at its first sample,
    encouragements if asked, "halfway", countdown numbers on their seconds), then the
    release cue (after the hold-end sound) opening the rest."""
    dose, cues, sounds, say = hold.dose, hold.cues, hold.sounds, coach.say
    wordings = [counted] if counted else []
    if len(cues.wordings_of("hold")) > 1:
        words, worded = coach.own(f"hold:{hold.exercise}", cues.wordings_of("hold"))
        wordings.append(worded)
    elif cues.hold:
        words = cues.hold
    elif count:
        words, worded = coach.phrase("hold")
        wordings.append(worded)
    else:
        words = say("hold_for", time=say.seconds(dose.hold_ms))
    timed: list[tuple[int, Cue]] = [(0, cue) for cue in _sound(sounds, "hold_start")]
    if dose.halfway:
        timed.append((dose.hold_ms // 2, Say(say("halfway"), "halfway")))
    timed += [(dose.hold_ms - k * 1000, Say(say.number(k), "countdown")) for k in range(dose.countdown, 0, -1)]
    timed += _encouragements(hold, coach, timed)
    timed.sort(key=lambda mark: mark[0])
    rep = Say(f"{count} {words}".strip(), "rep", ", ".join(wordings))
    window = Window(dose.hold_ms, "hold", (rep,), tuple(timed), dose.move_ms)
    if len(cues.wordings_of("release")) > 1:
        release_words, released = coach.own(f"release:{hold.exercise}", cues.wordings_of("release"))
    else:
        release_words, released = (cues.release, "") if cues.release else coach.phrase("release")
    release: tuple[Cue, ...] = (*_sound(sounds, "hold_end"), Say(release_words, "release", released))
    if more and dose.rest_ms:
        return [window, Window(dose.rest_ms, "rest", release)]
    return [window, *release, Pause(600)]


def _said(worded: tuple[str, str], role: Role) -> Say:
    """A varied phrase (text, wording) as a cue."""
    return Say(worded[0], role, worded[1])


def _encouragements(hold: _Hold, coach: Coach, timed: list[tuple[int, Cue]]) -> list[tuple[int, Cue]]:
    """The encouragements of one hold, between its other timed sounds (compile/wording.py)."""
    if hold.encourage is None:
        return []
    marks = sorted((offset, offset + (cue.ms if isinstance(cue, Sound) else round(coach.seconds(cue.text) * 1000)))
                   for offset, cue in timed)
    chosen = hold.encourage

    def refuse(message: str) -> ScriptError:
        return ScriptError(message, file=chosen.file or "<script>", line=chosen.line, exercise=hold.cues.name,
                           key="encourage")

    source = "" if not chosen.lines else f":{hold.exercise}" if hold.encourage_own else ":script"
    placed = place_encouragements(coach, hold.dose.hold_ms, marks, chosen, refuse, f"encourage{source}")
    return [(offset, Say(text, "encourage", worded)) for offset, text, worded in placed]


def _describe(dose: Dosage, say: Phrases) -> str:
    """The dosage in one sentence: "10 reps, holding each for 4 seconds."."""
    time = say.seconds
    if dose.work_ms:
        parts = [say("dose_intervals", n=dose.reps)]
        parts.append(say("dose_work", work=time(dose.work_ms), rest=time(dose.rest_ms)) if dose.rest_ms
                     else say("dose_work_only", work=time(dose.work_ms)))
    elif dose.reps == 1 and dose.hold_ms and dose.sides != "alternating":
        parts = [say("dose_single_hold", time=time(dose.hold_ms))]
    else:
        if dose.sides == "alternating" and dose.reps > 1:
            parts = [say("dose_reps_per_side" if dose.count == "per_side" else "dose_reps_total", n=dose.reps)]
        else:
            parts = [say("dose_reps", n=dose.reps) if dose.reps > 1 else say("dose_one_rep")]
        if dose.hold_ms:
            parts.append(say("dose_hold", time=time(dose.hold_ms)))
        if dose.rep_ms:
            parts.append(say("dose_rep_time", time=time(dose.rep_ms)))
    if dose.sets > 1:
        parts.insert(1, say("dose_sets", n=dose.sets))
    if dose.breath:
        parts.append(say("dose_breath", inhale=time(dose.breath.inhale_ms), exhale=time(dose.breath.exhale_ms)))
    if dose.sides == "each":
        parts.append(say("dose_each_side"))
    elif dose.sides == "alternating":
        parts.append(say("dose_alternating"))
    sentence = ", ".join(parts)
    return sentence[0].upper() + sentence[1:] + "."


def build_timeline(program: Program, measure: Callable[[str], int], sample_rate: int) -> Timeline:
    """Lay out `program`; speech that overruns its window is a script error naming the exercise."""
    try:
        return layout(program, measure, sample_rate)
    except FitError as err:
        raise ScriptError(
            err.message, file=program.path, line=err.chapter.line,
            exercise=err.chapter.exercise, key=f"dosage ({program.level})",
        ) from None
