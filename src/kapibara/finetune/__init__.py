"""Fine-tuning the small model on a domain: training data (``samples``, ``dataset``,
``teacher``, ``export``), LoRA training, the GGUF adapter and the re-evaluation.

    from kapibara.finetune.samples import load_samples
    from kapibara.finetune.dataset import build_training_set

    samples = build_training_set()          # dev split + example bank + catalog templates
"""
