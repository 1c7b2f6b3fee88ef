"""Training: the one resumable loop (loop.fit) with its checkpoints (checkpoint), SGD groups and schedules
(optim) and multi-process support (distributed), and the trainers that plug into it: C2AM (c2am) and the
localizer / classifier / CAM classifier (supervised); the cue model's trainer is in c2am.wsss.cue_model."""
