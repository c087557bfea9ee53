"""fastText quality classifiers: train one from YAML on the user's own labels (`gristmill quality train`),
write its model card, and load it for `filter.quality` (curate/filters/quality.py).

- `normalize.py`: the text normalization training and scoring share (named and versioned in the card).
- `config.py`: the training YAML, validated with pydantic.
- `data.py`: training documents from any registered reader (+ optional streaming steps), with labels.
- `train.py`: dedup, balanced sampling, held-out split by id hash, fastText training, evaluation.
- `card.py`: held-out metrics and the model card (JSON + Markdown) beside the model.
- `model.py`: finding, checking and loading a trained model and its card, and batched scoring.
"""
