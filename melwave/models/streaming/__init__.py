"""Streaming inference for feed-forward vocoders: push mel frames as they arrive, get back the
samples that are final, and the concatenation equals offline `vocoder(mel)`.

    stream = vocoder.stream()
    for frames in source:            # (n_mels, k) or (1, n_mels, k), any k >= 1
        play(stream.push(frames))    # (samples,) — possibly empty
    play(stream.flush())             # end of utterance: the last lookahead_frames frames
    stream.reset()                   # next utterance

How: `reach.measure_reach` finds how far an output sample's dependence on the mel reaches, in
frames, to the left (`context_frames`) and to the right (`lookahead_frames`). A frame's samples
are final once `lookahead_frames` later frames have arrived; the streamer then runs the vocoder on
a window that starts `context_frames` before the first frame not yet returned (or at frame 0,
where the window's own padding is offline's) and ends at the last frame received (or, on flush,
at the true end, where again the window's padding is offline's). Every returned sample therefore
sees exactly the inputs it sees offline; only float rounding of the different length differs.
Per push the vocoder runs on at most k + context_frames + lookahead_frames frames, whatever the
length of the utterance.
"""

from melwave.models.streaming.reach import Reach, measure_reach
from melwave.models.streaming.stream import FrameNoise, VocoderStream

__all__ = ["FrameNoise", "Reach", "VocoderStream", "measure_reach"]
