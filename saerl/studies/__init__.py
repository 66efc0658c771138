"""Study tools: entry points that run stages and write a report, above the stages they use.

- signals: `saerl study-signals`, the preliminary study's numbers, cost table and figures;
- saturation: `python -m saerl.studies.saturation`, the SFT curve that chooses a warm-start length.

(`saerl study <sweep.yaml>`, the RL studies, is the launch layer's: saerl.launch.)
"""
