"""Using trained models: the per-file jobs behind the vocoding commands (`pipeline`), the plan of
a batch of them (`batch_plan`) and the runner that goes on past a bad file (`runner`), and
conditional generation from a trained generator (`generate`).

Nothing here imports the training, metrics or data stacks. Models are found by name or path
through `melwave.models.io.registry`, which holds the one lookup of the models shipped inside
melwave (`shipped_models("vocoder" | "generator")`).
"""
