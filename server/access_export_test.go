package server

import "context"

// What the role matrix test needs to see of the tables.

// RoleNone and AnyMethod are the route table's markers.
const (
	RoleNone  = roleNone
	AnyMethod = anyMethod
)

// RouteRole is one row of the route table, without its handler.
type RouteRole struct{ Method, Path, Role string }

// RouteRoles is the route table.
func RouteRoles() []RouteRole {
	out := make([]RouteRole, len(routeTable))
	for i, r := range routeTable {
		out[i] = RouteRole{r.Method, r.Path, r.Role}
	}
	return out
}

// RPCRoles is the JSON-RPC method table.
func RPCRoles() map[string]string {
	out := make(map[string]string, len(rpcRoles))
	for m, r := range rpcRoles {
		out[m] = r
	}
	return out
}

// CredentialsRevoked is credentialsRevoked, for tests.
func (s *Server) CredentialsRevoked(ctx context.Context, ids []string) {
	s.credentialsRevoked(ctx, ids)
}
