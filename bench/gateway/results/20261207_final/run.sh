#!/bin/bash
# What ran here (08:45-08:57 UTC, main at 0d02f52..7f2c049, the same src): one worker at c=1
# seven times, two workers at c=1 three times, then c=32 twice for each worker count
# (run then as w1c32_rN / w2c32_rN, renamed w1_r8-9 / w2_r4-5 for summarize.py).
exec "$(dirname "$0")/../../vs_litellm.sh" bench/gateway/results/20261207_final 1:1:7 2:1:3 1:32:2 2:32:2
