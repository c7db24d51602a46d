package server

import "fanout/gateway/fanout"

// withPolicies returns d bound to the policies of op's calls (the policy
// registry's, policy.Set.For), in st's scratch space, or d itself if op
// has none.
func (st *state) withPolicies(op *operation, d fanout.Doer) fanout.Doer {
	if op.policies == nil {
		return d
	}
	st.pd = fanout.PolicyDoer{Next: d, Policies: op.policies}
	return &st.pd
}

// interrupt passes the engine's interrupt on to d, if it takes it (see
// fanout.Doer).
func interrupt(d fanout.Doer) {
	if in, ok := d.(interface{ Interrupt() }); ok {
		in.Interrupt()
	}
}

// disown passes the engine's word that body was not its call's answer on
// to d, if it takes it (see fanout.Disowner).
func disown(d fanout.Doer, body []byte) {
	if dn, ok := d.(fanout.Disowner); ok {
		dn.Disown(body)
	}
}
