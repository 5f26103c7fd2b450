#!/bin/bash
# What ran here (main at 589f4dd, the same src as 20261207_final): one worker at c=1 seven
# times, then two workers at c=1 three times.
exec "$(dirname "$0")/../../vs_litellm.sh" bench/gateway/results/20261207_third 1:1:7 2:1:3
