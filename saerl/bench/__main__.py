"""`python -m saerl.bench` (`make bench`): every speed figure in one run."""

from saerl.bench.miniature import main

main()
