package main

import (
	"slices"
	"time"
)

// Summary is the median, min and max of each figure over a Result's samples.
type Summary struct {
	Rounds      int    `json:"rounds"`
	RPS         Spread `json:"rps"`
	P50         Spread `json:"p50_ns"`
	P99         Spread `json:"p99_ns"`
	CPUPerReq   Spread `json:"cpu_per_req_ns"`
	IdleRSS     Spread `json:"idle_rss_bytes"`
	PeakRSS     Spread `json:"peak_rss_bytes"`
	MemPerConn  Spread `json:"mem_per_conn_bytes"`
	OriginShare Spread `json:"origin_share"`
	Errors      int64  `json:"errors"` // summed over rounds
}

// Spread is the median and range of one figure.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

func summarize(samples []Sample) Summary {
	pick := func(f func(Sample) float64) Spread {
		v := make([]float64, len(samples))
		for i, s := range samples {
			v[i] = f(s)
		}
		return spread(v)
	}
	dur := func(d time.Duration) float64 { return float64(d) }
	s := Summary{
		Rounds:      len(samples),
		RPS:         pick(func(s Sample) float64 { return s.RPS }),
		P50:         pick(func(s Sample) float64 { return dur(s.P50) }),
		P99:         pick(func(s Sample) float64 { return dur(s.P99) }),
		CPUPerReq:   pick(func(s Sample) float64 { return dur(s.CPUPerReq) }),
		IdleRSS:     pick(func(s Sample) float64 { return float64(s.IdleRSS) }),
		PeakRSS:     pick(func(s Sample) float64 { return float64(s.PeakRSS) }),
		MemPerConn:  pick(func(s Sample) float64 { return s.MemPerConn }),
		OriginShare: pick(func(s Sample) float64 { return s.OriginShare }),
	}
	for _, x := range samples {
		s.Errors += x.Errors
	}
	return s
}

// spread returns the median (the mean of the middle two for an even
// count), min and max of v; zero for an empty v.
func spread(v []float64) Spread {
	if len(v) == 0 {
		return Spread{}
	}
	v = slices.Clone(v)
	slices.Sort(v)
	n := len(v)
	med := v[n/2]
	if n%2 == 0 {
		med = (v[n/2-1] + v[n/2]) / 2
	}
	return Spread{Median: med, Min: v[0], Max: v[n-1]}
}
