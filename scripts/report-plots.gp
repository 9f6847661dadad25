# The plots of `make report` (scripts/report.sh), from the CSV timeline that
# `henbtrust sim run` writes (t,normal,updating,quarantined,recovery,minimal,
# bricked,compromised,recovered; t in seconds of fleet time).
#
#   gnuplot -c scripts/report-plots.gp states   NAME.csv NAME-states.svg "title"
#   gnuplot -c scripts/report-plots.gp recovery NAME.csv NAME-recovery.svg "title"
#
# The timeline is a series of samples, so both plots hold each sample until
# the next one (steps) rather than drawing slopes the run never measured.

if (ARGC < 4) {
  print "usage: gnuplot -c report-plots.gp states|recovery IN.csv OUT.svg TITLE"
  exit status 2
}
mode = ARG1
csv = ARG2

# A fixed size, so the report's pages look the same from run to run.
set terminal svg size 960,480 font "sans-serif,14" background rgb "white"
set output ARG3
set datafile separator comma
set datafile columnheaders
set title ARG4 noenhanced
set xlabel "fleet time (hours)"
set ylabel "devices"
set grid xtics ytics lc rgb "#dddddd"
set border 3
set tics nomirror
set key outside right top noenhanced
set yrange [0:*]
# The x axis ends at the last sample; a little room above the highest value
# keeps a full fleet's line off the frame.
set autoscale xfix
set autoscale yfixmax
set offsets 0, 0, graph 0.05, 0
hours(t) = t / 3600.0

# A held sample ends where the next begins, so the last sample, the state the
# run ended in, would have no width: both plots hold it for a short stretch
# (w, 2 % of the run) past the end, marked "end".
stats csv using 1 nooutput
last = STATS_records - 1
w = (STATS_max > 0 ? STATS_max : 1) / 3600.0 * 0.02
set label 1 "end" at hours(STATS_max) + w / 2, graph 1.03 center

if (mode eq "states") {
  # Stacked: layer k is the sum of columns 2..k (normal at the bottom,
  # bricked on top), drawn largest first so the nearer layers cover the rest.
  names = "t normal updating quarantined recovery minimal bricked"
  colors = "- #2ca02c #1f77b4 #ff7f0e #9467bd #8c564b #d62728"
  set style fill solid 1.0 noborder
  plot for [k=7:2:-1] csv using (hours($1)):(sum [i=2:k] column(i)) \
         with fillsteps lc rgb word(colors, k) title word(names, k), \
       for [k=7:2:-1] csv every ::last::last using (hours($1) + w / 2):(sum [i=2:k] column(i)):(w) \
         with boxes lc rgb word(colors, k) notitle
} else {
  if (mode eq "recovery") {
    # The recovery curve: devices struck so far, and of these back so far.
    # Solid lines of two widths rather than a dashed one: some SVG renderers
    # draw a dashed path that has several parts as one.
    plot csv using (hours($1)):($8) with steps lw 5 lc rgb "#d62728" title "compromised", \
         ''  every ::last::last using (hours($1)):($8):(w):(0) with vectors nohead lw 5 lc rgb "#d62728" notitle, \
         ''  using (hours($1)):($9) with steps lw 3 lc rgb "#2ca02c" title "recovered", \
         ''  every ::last::last using (hours($1)):($9):(w):(0) with vectors nohead lw 3 lc rgb "#2ca02c" notitle
  } else {
    print "report-plots.gp: unknown mode ", mode, " (states or recovery)"
    exit status 2
  }
}
