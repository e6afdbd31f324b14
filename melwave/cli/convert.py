"""`melwave convert SOURCE -o OUT.safetensors`: any loadable vocoder -> melwave's own file;
`melwave export -m MODEL -o OUT.onnx`: a vocoder -> one ONNX graph for any ONNX runtime."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from melwave.cli.options import explicit_mel_config, mel_options, trust_file_option

# torch and the models are imported inside the commands: `melwave --help` must not pay for them.


def _convert(args: argparse.Namespace) -> int:
    from melwave.models.io.conversion import convert_vocoder, parameter_count

    if args.source_config:  # a DeepMelSpectrogramGenerator checkpoint: a mel generator, not a vocoder
        from melwave.models.io.formats.deepmel import convert_deepmel

        out, model = convert_deepmel(args.source, args.source_config, args.output, overwrite=args.overwrite,
                                     trust_file=args.trust_file, half=args.half, allow_nonfinite=args.allow_nonfinite)
        print(f"melwave: wrote {out} (cwgan generator, {parameter_count(model):,} parameters, conditions "
              f"{model.vocabulary.describe()}, {model.mel_config.n_mels} mels; from the deepmel layout)", file=sys.stderr)
        return 0

    out, vocoder = convert_vocoder(args.source, args.output, overwrite=args.overwrite, trust_file=args.trust_file,
                                   mel_config=explicit_mel_config(args), half=args.half,
                                   allow_nonfinite=args.allow_nonfinite)
    origin = (getattr(vocoder, "provenance", None) or {}).get("layout", "melwave")
    print(f"melwave: wrote {out} ({vocoder.family}, {parameter_count(vocoder):,} parameters, "
          f"{vocoder.mel_config.sample_rate} Hz, {vocoder.mel_config.n_mels} mels; from the {origin} layout)", file=sys.stderr)
    return 0


def _export(args: argparse.Namespace) -> int:
    from melwave.models.onnx.export import check_output, export_onnx
    from melwave.models.io.load import load_vocoder

    check_output(args.output, overwrite=args.overwrite, opset=args.opset)  # before seconds of loading
    vocoder = load_vocoder(args.model, mel_config=explicit_mel_config(args), trust_file=args.trust_file)
    out = export_onnx(vocoder, args.output, overwrite=args.overwrite, opset=args.opset, source=args.model,
                      spectral_convs=not args.direct_convs)
    print(f"melwave: wrote {out} ({vocoder.family}, opset {args.opset}; input mel (batch, {vocoder.mel_config.n_mels}, frames), "
          f"output wave (batch, frames * {vocoder.mel_config.hop_length}) at {vocoder.mel_config.sample_rate} Hz; "
          f"MelConfig in its metadata_props)", file=sys.stderr)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    convert = commands.add_parser("convert", help="store any vocoder melwave loads (other projects' layouts, hf:, names) "
                                                  "as one melwave .safetensors file")
    convert.add_argument("source", help="vocoder name, model file or folder, another project's checkpoint, or hf:OWNER/NAME[@REV]")
    convert.add_argument("-o", "--output", type=Path, required=True, help="the .safetensors file to write")
    convert.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    convert.add_argument("--half", action="store_true", help="store float32 weights as float16 (half the size)")
    convert.add_argument("--allow-nonfinite", action="store_true",
                         help="store weights with NaN/Inf values (refused by default: such a model outputs NaN)")
    trust_file_option(convert)
    convert.add_argument("--source-config", default=None, metavar="YAML",
                         help="SOURCE is a DeepMelSpectrogramGenerator checkpoint and this its YAML config: store "
                              "its generator as a melwave cwgan model")
    mel_options(convert)
    convert.set_defaults(func=_convert)

    export = commands.add_parser("export", help="export a vocoder to ONNX: mel (batch, n_mels, frames) -> wave (batch, samples)")
    export.add_argument("-m", "--model", required=True, help="vocoder name, model path or hf:OWNER/NAME[@REV]")
    export.add_argument("-o", "--output", type=Path, required=True, help="the .onnx file to write")
    export.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    export.add_argument("--opset", type=int, default=18,
                        help="ONNX opset the file imports (default 18; checked in the written file; the range "
                             "depends on the installed torch and onnx, and a wrong one is refused naming it)")
    export.add_argument("--direct-convs", action="store_true",
                        help="keep wide convolutions direct instead of overlap-save in the frequency domain "
                             "(HiFi-GAN V1: slower; sums in torch's order)")
    trust_file_option(export)
    mel_options(export)
    export.set_defaults(func=_export)
