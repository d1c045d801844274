"""The style catalog: where the networks live (registry) and what `--style` may say (spec)."""
