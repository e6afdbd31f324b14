"""Training: one generic loop (loop.py) running a recipe per model family (recipes/).

    config.py      run-config schema (train/model/mel/data/recipe), YAML + --set overrides
    state.py       TrainState: step, data position, best validation scores
    recipe.py      the Recipe interface every family plugs in
    loop.py        train(): steps, validation, checkpoints, resume, export, TensorBoard
    checkpoint.py  atomic, weights_only-loadable checkpoints with RNG state
    distributed.py torchrun / DistributedDataParallel set-up

Nothing here is imported by inference code (melwave.models never imports melwave.train).
"""
