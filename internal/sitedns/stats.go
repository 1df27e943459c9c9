package sitedns

import (
	"sync/atomic"

	"github.com/miekg/dns"
)

// Stats counts the responder's queries since it was made.
type Stats struct {
	Queries     uint64 // every query received
	Answered    uint64 // NOERROR with records
	NoData      uint64 // NOERROR without records (a type the name does not have)
	NXDomain    uint64 // names in the zone that do not exist
	Refused     uint64 // names outside the zone, zone transfers, other classes
	ServFail    uint64 // no site known to serve
	OtherRcode  uint64 // FORMERR, NOTIMP, BADVERS
	Truncated   uint64 // answers cut to the UDP size (TC set)
	Limited     uint64 // UDP queries over the rate limit (dropped, or answered empty with TC)
	WriteErrors uint64 // answers that could not be sent
}

// counters are the Stats, updated by every query.
type counters struct {
	queries, answered, noData, nxDomain, refused, servFail, otherRcode atomic.Uint64
	truncated, limited, writeErrors                                    atomic.Uint64
}

// count records the answer m.
func (c *counters) count(m *dns.Msg) {
	switch m.Rcode {
	case dns.RcodeSuccess:
		if len(m.Answer) > 0 {
			c.answered.Add(1)
		} else {
			c.noData.Add(1)
		}
	case dns.RcodeNameError:
		c.nxDomain.Add(1)
	case dns.RcodeRefused:
		c.refused.Add(1)
	case dns.RcodeServerFailure:
		c.servFail.Add(1)
	default:
		c.otherRcode.Add(1)
	}
	if m.Truncated {
		c.truncated.Add(1)
	}
}

// Stats returns the counts so far.
func (r *Responder) Stats() Stats {
	c := &r.stats
	return Stats{
		Queries: c.queries.Load(), Answered: c.answered.Load(), NoData: c.noData.Load(), NXDomain: c.nxDomain.Load(),
		Refused: c.refused.Load(), ServFail: c.servFail.Load(), OtherRcode: c.otherRcode.Load(),
		Truncated: c.truncated.Load(), Limited: c.limited.Load(), WriteErrors: c.writeErrors.Load(),
	}
}
