// The player page: chapters jump to their start, the transcript follows playback (the cue the
// .vtt says is being spoken is highlighted), the current chapter is marked. No dependencies.
(function () {
  'use strict';
  var audio = document.getElementById('player');
  if (!audio) { return; }
  var chapters = Array.prototype.slice.call(document.querySelectorAll('#chapters button[data-start]'));
  var cues = Array.prototype.slice.call(document.querySelectorAll('#transcript [data-start]'));
  var position = document.getElementById('position');
  var nowChapter = document.getElementById('now-chapter');
  var follow = document.getElementById('follow');
  var currentCue = null;
  var currentChapter = null;

  // As the page's times (model/durations.format_clock): m:ss, h:mm:ss from an hour.
  function clock(ms) {
    var s = Math.floor(ms / 1000);
    var ss = ':' + String(s % 60).padStart(2, '0');
    if (s < 3600) { return Math.floor(s / 60) + ss; }
    return Math.floor(s / 3600) + ':' + String(Math.floor(s / 60) % 60).padStart(2, '0') + ss;
  }

  // Whole milliseconds, like the .vtt and the chapters: no float noise at a cue's edge.
  function nowMs() { return Math.round(audio.currentTime * 1000); }

  function mark(old, element, cls) {
    if (old === element) { return element; }
    if (old) { old.classList.remove(cls); old.removeAttribute('aria-current'); }
    if (element) { element.classList.add(cls); element.setAttribute('aria-current', 'true'); }
    return element;
  }

  function update() {
    var ms = nowMs();
    var cue = null;
    for (var i = 0; i < cues.length; i++) {
      if (Number(cues[i].dataset.start) <= ms && ms < Number(cues[i].dataset.end)) { cue = cues[i]; break; }
    }
    var changed = cue !== currentCue;
    currentCue = mark(currentCue, cue, 'current');
    if (changed && cue && follow && follow.checked && !audio.paused) {
      cue.scrollIntoView({ block: 'nearest' });
    }
    var chapter = null;
    for (var j = 0; j < chapters.length; j++) {
      if (Number(chapters[j].dataset.start) <= ms) { chapter = chapters[j]; }
    }
    currentChapter = mark(currentChapter, chapter, 'current');
    if (nowChapter) {
      nowChapter.textContent = chapter ? ' · ' + chapter.querySelector('.name').textContent : '';
    }
    if (position) { position.textContent = clock(ms); }
  }

  // A server that ignores byte ranges (python -m http.server) cannot seek: the browser plays
  // from the start. Say so instead of failing silently.
  var noSeek = document.getElementById('no-seek');
  function checkSeek(target) {
    window.setTimeout(function () {
      if (noSeek && target > 2 && Math.abs(audio.currentTime - target) > 2) { noSeek.hidden = false; }
    }, 1500);
  }

  chapters.forEach(function (button) {
    button.addEventListener('click', function () {
      var target = Number(button.dataset.start) / 1000;
      audio.currentTime = target;
      var played = audio.play();
      if (played && played.catch) { played.catch(function () {}); }
      checkSeek(target);
    });
  });
  ['timeupdate', 'seeked', 'seeking', 'loadedmetadata'].forEach(function (name) {
    audio.addEventListener(name, update);
  });
  update();
}());
