"""Compile: a routine and one level → a `Program` of coaching steps, then a timed `Timeline`."""

from __future__ import annotations

from typing import Callable

from .errors import ScriptError
from .phrases import PhraseError, Phrases
from .script import Cues, Dosage, Exercise, Routine
from .settings import Settings
from .sounds import SoundSettings, sound_ms
from .spoken import speak_numbers
from .timeline import ChapterPlan, Cue, FitError, Pause, Program, Say, Sound, Step, Timeline, Window, layout


def compile_level(routine: Routine, level_id: str, settings: Settings | None = None) -> Program:
    """Turn every exercise's dosage for `level_id` into spoken cues, pauses and exact windows.
    Clinic `settings` add their intro before the script's, their outro after it, a disclaimer
    and a contact line (numbers in clinic text are read as spoken.py says)."""
    settings = settings or Settings()
    level_id = routine.level(level_id).id
    say = phrases_for(routine)
    gap = Pause(routine.gap_ms)
    chapters: list[ChapterPlan] = []

    def clinic(text: str | None, role: str) -> list[Step]:
        return [Say(speak_numbers(text, say), role), gap] if text else []

    title = say("session_intro", title=routine.title, level=level_title(routine, level_id, say))
    intro: list[Step] = [Say(title, "title"), gap, *clinic(settings.intro, "intro")]
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

    active = [ex for ex in routine.exercises if not ex.dosage[level_id].skip]
    for n, exercise in enumerate(active, 1):
        chapters.append(_exercise_chapter(routine, exercise, level_id, n, len(active), say))

    outro: list[Step] = [Say(routine.outro, "outro"), gap] if routine.outro else []
    outro += [*clinic(settings.outro, "outro"), *clinic(settings.contact, "contact")]
    outro += [Say(say("session_end"), "outro"), Pause(1000, "tail")]
    chapters.append(ChapterPlan(say("chapter_closing"), tuple(outro)))
    level = routine.level(level_id)
    return Program(routine.id, level_id, level.rate * routine.voice.rate, tuple(chapters), routine.path)


def phrases_for(routine: Routine) -> Phrases:
    """The routine's phrase table (its language, its overrides); a gap is a script error."""
    try:
        return Phrases(routine.language, routine.phrases)
    except PhraseError as err:
        raise ScriptError(err.message, file=routine.path, key=err.key or "language", hint=err.hint) from None


def level_title(routine: Routine, level_id: str, say: Phrases | None = None) -> str:
    """The title the script gives a level, else the language's word for a default level
    (beginner, progressed), else the level's name capitalized."""
    level = routine.level(level_id)
    say = say or phrases_for(routine)
    key = f"level_{level.id}"
    if level.named or key not in say.table:
        return level.title
    return say(key)


def _exercise_chapter(
    routine: Routine, exercise: Exercise, level_id: str, n: int, total: int, say: Phrases
) -> ChapterPlan:
    dose = exercise.dosage[level_id]
    cues = exercise.cues_for(level_id)
    gap = Pause(routine.gap_ms)
    steps: list[Step] = [
        *_sound(routine.sounds, "exercise"),
        Say(say("exercise_intro", n=n, total=total, name=cues.name), "announce"),
        Pause(routine.gap_ms // 2),
        Say(_describe(dose, say), "dosage"),
        gap,
    ]
    if cues.caution:
        steps += [Say(cues.caution, "caution"), gap]
    for line in cues.setup:
        steps += [Say(line, "setup"), gap]
    for line in cues.movement:
        steps += [Say(line, "movement"), gap]

    sides: list[str | None] = ["right", "left"] if dose.sides == "each" else [None]
    for side_index, side in enumerate(sides):
        if side:
            key = "side_first" if side_index == 0 else "side_switch"
            steps += [Say(say(key, side=say(side)), "side"), gap]
        for set_no in range(1, dose.sets + 1):
            ready = say("get_ready")
            if dose.sets > 1:
                ready = f"{say('set', n=set_no, total=dose.sets)} {ready}"
            steps.append(Window(routine.get_ready_ms, "get_ready", (Say(ready, "get_ready"),)))
            steps += _reps(dose, cues, say, routine.sounds)
            if set_no < dose.sets:
                steps.append(Window(dose.set_rest_ms, "set_rest",
                                    (Say(say("set_rest", n=set_no + 1, total=dose.sets), "set_rest"),)))
        if side_index + 1 < len(sides) and dose.rest_ms:
            steps.append(Window(dose.rest_ms, "rest", (Say(say("rest"), "rest"),)))
    steps += [Say(say("exercise_done"), "done"), gap]
    return ChapterPlan(cues.name, tuple(steps), exercise=cues.name, line=dose.line)


def _sound(sounds: SoundSettings, event: str) -> list[Sound]:
    """The sound for `event` as a cue, or nothing when the routine has none for it."""
    name = getattr(sounds, event)
    return [Sound(name, sound_ms(name), f"{event}_sound")] if name else []


def _reps(dose: Dosage, cues: Cues, say: Phrases, sounds: SoundSettings) -> list[Step]:
    steps: list[Step] = []
    for rep in range(1, dose.reps + 1):
        side = None
        if dose.sides == "alternating":
            side = say("right" if rep % 2 else "left")
        last = rep == dose.reps and dose.reps > 1
        if last:
            count = say("last_rep_side", side=side) if side else say("last_rep")
        else:
            count = say("rep_side", n=rep, total=dose.reps, side=side) if side else say("rep", n=rep, total=dose.reps)
        if dose.breath:
            inhale = cues.inhale if rep == 1 and cues.inhale else f"{count} {say('inhale')}"
            exhale = cues.exhale if rep == 1 and cues.exhale else say("exhale")
            steps.append(Window(dose.breath.inhale_ms, "breath_in", (Say(inhale, "breath_in"),)))
            steps.append(Window(dose.breath.exhale_ms, "breath_out", (Say(exhale, "breath_out"),)))
            continue
        if dose.hold_ms:
            timed = tuple(
                (dose.hold_ms - k * 1000, Say(say.number(k), "countdown")) for k in range(dose.countdown, 0, -1)
            )
            # Sounds sit inside the windows, before the words: they never change a length.
            start: tuple[Cue, ...] = (*_sound(sounds, "hold_start"), Say(f"{count} {cues.hold or say('hold')}", "rep"))
            steps.append(Window(dose.hold_ms, "hold", start, timed))
            release = (*_sound(sounds, "hold_end"), Say(cues.release or say("release"), "release"))
            if rep < dose.reps and dose.rest_ms:
                steps.append(Window(dose.rest_ms, "rest", release))
            else:
                steps += [*release, Pause(600)]
        else:
            text = f"{count} {cues.rep}" if cues.rep and rep == 1 else count
            steps.append(Window(dose.rep_ms, "rep", (Say(text, "rep"),)))
            if rep < dose.reps and dose.rest_ms:
                steps.append(Window(dose.rest_ms, "rest", (Say(say("rest"), "rest"),)))
    return steps


def _describe(dose: Dosage, say: Phrases) -> str:
    parts = [say("dose_reps", n=dose.reps) if dose.reps > 1 else say("dose_one_rep")]
    if dose.sets > 1:
        parts.append(say("dose_sets", n=dose.sets))
    if dose.hold_ms:
        parts.append(say("dose_hold", time=say.seconds(dose.hold_ms)))
    if dose.breath:
        parts.append(say("dose_breath", inhale=say.seconds(dose.breath.inhale_ms),
                         exhale=say.seconds(dose.breath.exhale_ms)))
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
