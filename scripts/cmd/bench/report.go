package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"text/tabwriter"
	"time"
)

// Targets for the service relative to bare (RSS is absolute).
const (
	minThroughputRatio = 0.95
	maxP99Ratio        = 1.2
	maxRSSKB           = 30 * 1024
	maxStartRatio      = 1.2
)

// report prints the figures side by side and the targets, and says whether
// the service met them all.
func report(out io.Writer, o options, svc, bare *server) bool {
	placement := "not pinned to CPUs"
	if o.pin {
		placement = "wrk on CPU 0, servers on CPU 1"
	}
	fmt.Fprintf(out, "\nloopback, %d CPUs, %s, %s; wrk -t%d -c%d, %d rounds x %s per server, order rotated each round.\n",
		runtime.NumCPU(), runtime.Version(), placement, o.threads, o.conns, o.rounds, o.duration)
	fmt.Fprintf(out, "Figures are medians (start-up over %d starts); ratios are medians of per-round ratios.\n\n", o.starts)

	throughput := pairedRatio(svc.throughputs, bare.throughputs)
	p99 := pairedRatio(svc.p99s, bare.p99s)
	start := pairedRatio(svc.startups, bare.startups)
	rss := float64(svc.peakRSSKB) / float64(bare.peakRSSKB)

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tservice\tbare\tservice/bare\t")
	fmt.Fprintf(tw, "/ping throughput (req/s)\t%.0f\t%.0f\t%.2f\t\n", median(svc.throughputs), median(bare.throughputs), throughput)
	fmt.Fprintf(tw, "p99 latency\t%s\t%s\t%.2f\t\n", seconds(median(svc.p99s)), seconds(median(bare.p99s)), p99)
	fmt.Fprintf(tw, "server CPU per request\t%s\t%s\t%.2f\t\n", seconds(svc.cpuPerRequest()), seconds(bare.cpuPerRequest()), svc.cpuPerRequest()/bare.cpuPerRequest())
	fmt.Fprintf(tw, "peak RSS\t%s\t%s\t%.2f\t\n", megabytes(svc.peakRSSKB), megabytes(bare.peakRSSKB), rss)
	fmt.Fprintf(tw, "exec to first 200\t%s\t%s\t%.2f\t\n", seconds(median(svc.startups)), seconds(median(bare.startups)), start)
	fmt.Fprintf(tw, "failed requests\t%d\t%d\t\t\n", svc.failures, bare.failures)
	tw.Flush()

	fmt.Fprintln(out, "\ntargets for the service:")
	met := true
	check := func(name string, ok bool, value string) {
		verdict := "met"
		if !ok {
			verdict, met = "MISSED", false
		}
		fmt.Fprintf(out, "  %-30s %-10s %s\n", name, value, verdict)
	}
	check(fmt.Sprintf("throughput >= %.2f x bare", minThroughputRatio), throughput >= minThroughputRatio, fmt.Sprintf("%.2f", throughput))
	check(fmt.Sprintf("p99 <= %.1f x bare", maxP99Ratio), p99 <= maxP99Ratio, fmt.Sprintf("%.2f", p99))
	check(fmt.Sprintf("peak RSS <= %s", megabytes(maxRSSKB)), svc.peakRSSKB <= maxRSSKB, megabytes(svc.peakRSSKB))
	check(fmt.Sprintf("start <= %.1f x bare", maxStartRatio), start <= maxStartRatio, fmt.Sprintf("%.2f", start))
	check("no failed requests", svc.failures == 0, fmt.Sprint(svc.failures))
	return met
}

// pairedRatio is the median over rounds of a[i]/b[i]: each round measured
// both servers back to back, so one round's ratio cancels most of the drift
// of a shared machine that a ratio of medians would keep.
func pairedRatio(a, b []float64) float64 {
	var ratios []float64
	for i := range min(len(a), len(b)) {
		if b[i] != 0 {
			ratios = append(ratios, a[i]/b[i])
		}
	}
	return median(ratios)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func seconds(s float64) string {
	if d := time.Duration(s * float64(time.Second)); d < time.Millisecond {
		return fmt.Sprintf("%.1f µs", s*1e6)
	}
	return fmt.Sprintf("%.2f ms", s*1e3)
}

func megabytes(kb int64) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }
