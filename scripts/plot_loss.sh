#!/bin/sh
# Plots the training and validation loss of a `tt train --log-json` file with
# gnuplot (pngcairo):   scripts/plot_loss.sh log.jsonl loss.png ["title"]
set -eu
log=$1
png=$2
title=${3:-tt train}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# one "step loss" line per logged step, one "step val_loss" per evaluation
sed -n 's/.*"step":\([0-9]*\),"loss":\([^,}]*\).*/\1 \2/p' "$log" >"$tmp/train.dat"
sed -n 's/.*"step":\([0-9]*\),.*"val_loss":\([^,}]*\).*/\1 \2/p' "$log" >"$tmp/val.dat"
[ -s "$tmp/train.dat" ] || { echo "plot_loss.sh: no logged steps in $log" >&2; exit 2; }
plot='plot "'$tmp'/train.dat" using 1:2 with lines lw 1.5 lc rgb "#1f77b4" title "training loss (batch)"'
if [ -s "$tmp/val.dat" ]; then
  plot="$plot"', "'$tmp'/val.dat" using 1:2 with linespoints lw 2 pt 7 lc rgb "#d62728" title "validation loss"'
fi
gnuplot <<GP
set terminal pngcairo size 900,540 enhanced font "sans,11"
set output "$png"
set title "$title"
set xlabel "step"
set ylabel "cross-entropy (nats/char)"
set grid
set key top right
$plot
GP
