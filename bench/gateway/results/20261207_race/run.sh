#!/bin/bash
# What ran here (08:29-08:38 UTC, main at 0d02f52): one worker at c=1 seven times, then two
# workers at c=1 three times.
exec "$(dirname "$0")/../../vs_litellm.sh" bench/gateway/results/20261207_race 1:1:7 2:1:3
