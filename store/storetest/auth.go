package storetest

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// Users and credentials.

func newUser(name, role string) *store.User {
	now := store.Now()
	return &store.User{
		ID: store.NewID(), Username: name, Role: role,
		PasswordHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$" + name,
		Created:      now, Updated: now,
	}
}

// hashes are unique across a test run, as SHA-256 hex of random secrets are.
var hashSeq struct {
	sync.Mutex
	n int
}

func newCredential(kind, userID string, created time.Time) *store.Credential {
	hashSeq.Lock()
	hashSeq.n++
	n := hashSeq.n
	hashSeq.Unlock()
	return &store.Credential{
		ID: store.NewID(), Kind: kind, UserID: userID, Role: "operator",
		Hash: fmt.Sprintf("%064x", n), Created: created,
	}
}

func equalUser(t testing.TB, got, want *store.User) {
	t.Helper()
	g, w := *got, *want
	utc(t, "Created", &g.Created)
	utc(t, "Updated", &g.Updated)
	w.Created, w.Updated = w.Created.UTC().Truncate(time.Millisecond), w.Updated.UTC().Truncate(time.Millisecond)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("user\n got %+v\nwant %+v", g, w)
	}
}

func equalCredential(t testing.TB, got, want *store.Credential) {
	t.Helper()
	g, w := *got, *want
	for _, f := range []struct {
		name string
		g, w *time.Time
	}{{"Expires", &g.Expires, &w.Expires}, {"LastUsed", &g.LastUsed, &w.LastUsed}, {"Created", &g.Created, &w.Created}} {
		utc(t, f.name, f.g)
		*f.w = f.w.UTC().Truncate(time.Millisecond)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("credential\n got %+v\nwant %+v", g, w)
	}
}

func usernames(list []store.User) []string {
	var out []string
	for _, u := range list {
		out = append(out, u.Username)
	}
	return out
}

func credentialIDs(list []store.Credential) []string {
	var out []string
	for _, c := range list {
		out = append(out, c.ID)
	}
	return out
}

func testUserCRUD(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser("alice", "operator")
	must(t, s.Users().Create(ctx, u))
	got, err := s.Users().Get(ctx, u.ID)
	must(t, err)
	equalUser(t, got, u)
	got, err = s.Users().GetByName(ctx, "alice")
	must(t, err)
	equalUser(t, got, u)
	_, err = s.Users().GetByName(ctx, "Alice")
	isErr(t, err, store.ErrNotFound, "GetByName with another case")

	// Promoted, disabled, password cleared, renamed.
	upd := *u
	upd.Role, upd.Disabled, upd.PasswordHash, upd.Username = "admin", true, "", "alice2"
	upd.Updated = store.Now().Add(time.Second)
	must(t, s.Users().Update(ctx, &upd))
	got, err = s.Users().Get(ctx, u.ID)
	must(t, err)
	equalUser(t, got, &upd)
	_, err = s.Users().GetByName(ctx, "alice")
	isErr(t, err, store.ErrNotFound, "GetByName of the old name")
	got, err = s.Users().GetByName(ctx, "alice2")
	must(t, err)
	equalUser(t, got, &upd)
	// Updating a user without renaming it is no clash with itself.
	upd.Disabled = false
	must(t, s.Users().Update(ctx, &upd))

	unknown := newUser("nobody", "viewer")
	isErr(t, s.Users().Update(ctx, unknown), store.ErrNotFound, "Update unknown user")
	_, err = s.Users().Get(ctx, unknown.ID)
	isErr(t, err, store.ErrNotFound, "Get unknown user")
	_, err = s.Users().GetByName(ctx, "nobody")
	isErr(t, err, store.ErrNotFound, "GetByName unknown user")

	must(t, s.Users().Delete(ctx, u.ID))
	_, err = s.Users().Get(ctx, u.ID)
	isErr(t, err, store.ErrNotFound, "Get deleted user")
	isErr(t, s.Users().Delete(ctx, u.ID), store.ErrNotFound, "Delete deleted user")
	// The name is free again.
	must(t, s.Users().Create(ctx, newUser("alice2", "viewer")))
}

func testUserConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := newUser("a", "admin"), newUser("b", "viewer")
	must(t, s.Users().Create(ctx, a))
	must(t, s.Users().Create(ctx, b))
	isErr(t, s.Users().Create(ctx, newUser("a", "viewer")), store.ErrConflict, "Create with a taken username")
	isErr(t, s.Users().Create(ctx, a), store.ErrConflict, "Create an existing user")
	renamed := *b
	renamed.Username = "a"
	isErr(t, s.Users().Update(ctx, &renamed), store.ErrConflict, "Update to a taken username")
	got, err := s.Users().Get(ctx, b.ID)
	must(t, err)
	equalUser(t, got, b)

	bad := newUser("bad", "viewer")
	bad.ID = "nope"
	if err := s.Users().Create(ctx, bad); err == nil {
		t.Error("Create user with a malformed id succeeded")
	}
	if err := s.Users().Create(ctx, newUser("", "viewer")); err == nil {
		t.Error("Create user with no username succeeded")
	}
	list, err := s.Users().List(ctx)
	must(t, err)
	if !slices.Equal(usernames(list), []string{"a", "b"}) {
		t.Errorf("users after refused writes: %v, want [a b]", usernames(list))
	}
}

func testUserList(t *testing.T, s store.Store) {
	ctx := t.Context()
	list, err := s.Users().List(ctx)
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("a new store has users: %v", usernames(list))
	}
	want := map[string]*store.User{}
	for _, name := range []string{"mallory", "bob", "zoe", "alice", "carol"} {
		u := newUser(name, "viewer")
		must(t, s.Users().Create(ctx, u))
		want[name] = u
	}
	list, err = s.Users().List(ctx)
	must(t, err)
	if !slices.Equal(usernames(list), []string{"alice", "bob", "carol", "mallory", "zoe"}) {
		t.Fatalf("List = %v, want ordered by username", usernames(list))
	}
	for i := range list {
		equalUser(t, &list[i], want[list[i].Username])
	}
}

func testCredentialCRUD(t *testing.T, s store.Store) {
	ctx := t.Context()
	userID := store.NewID()
	now := store.Now()
	tok := newCredential(store.CredentialToken, userID, now)
	tok.Name, tok.Role, tok.Expires = "ci", "viewer", now.Add(24*time.Hour)
	sess := newCredential(store.CredentialSession, userID, now)
	sess.CSRF = strings.Repeat("c", 43)
	ticket := newCredential(store.CredentialTicket, userID, now)
	ticket.ParentID, ticket.Expires = sess.ID, now.Add(30*time.Second)
	for _, c := range []*store.Credential{tok, sess, ticket} {
		must(t, s.Credentials().Create(ctx, c))
		got, err := s.Credentials().Get(ctx, c.ID)
		must(t, err)
		equalCredential(t, got, c)
		got, err = s.Credentials().GetByHash(ctx, c.Hash)
		must(t, err)
		equalCredential(t, got, c)
	}

	used := now.Add(time.Minute)
	must(t, s.Credentials().Touch(ctx, tok.ID, used))
	got, err := s.Credentials().Get(ctx, tok.ID)
	must(t, err)
	tok.LastUsed = used
	equalCredential(t, got, tok)

	// An expired credential is still found: callers decide.
	old := newCredential(store.CredentialToken, userID, now.Add(-time.Hour))
	old.Expires = now.Add(-time.Minute)
	must(t, s.Credentials().Create(ctx, old))
	got, err = s.Credentials().GetByHash(ctx, old.Hash)
	must(t, err)
	if !got.Expired(now) {
		t.Errorf("credential that expired %v is not Expired at %v", got.Expires, now)
	}

	unknown := store.NewID()
	_, err = s.Credentials().Get(ctx, unknown)
	isErr(t, err, store.ErrNotFound, "Get unknown credential")
	_, err = s.Credentials().GetByHash(ctx, strings.Repeat("f", 64))
	isErr(t, err, store.ErrNotFound, "GetByHash unknown hash")
	_, err = s.Credentials().GetByHash(ctx, "")
	isErr(t, err, store.ErrNotFound, "GetByHash of no hash")
	isErr(t, s.Credentials().Touch(ctx, unknown, used), store.ErrNotFound, "Touch unknown credential")
}

func testCredentialConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := newCredential(store.CredentialToken, store.NewID(), store.Now())
	must(t, s.Credentials().Create(ctx, c))
	same := newCredential(store.CredentialSession, store.NewID(), store.Now())
	same.Hash = c.Hash
	err := s.Credentials().Create(ctx, same)
	isErr(t, err, store.ErrConflict, "Create with an existing hash")
	// Errors get logged: they never carry a hash, which is as good as the
	// secret to anyone who can try it against the store's table.
	if err != nil && strings.Contains(err.Error(), c.Hash) {
		t.Errorf("the error of a hash conflict quotes the hash: %v", err)
	}
	isErr(t, s.Credentials().Create(ctx, c), store.ErrConflict, "Create an existing credential")
	_, err = s.Credentials().Get(ctx, same.ID)
	isErr(t, err, store.ErrNotFound, "Get the refused credential")

	for name, mod := range map[string]func(*store.Credential){
		"a malformed id": func(c *store.Credential) { c.ID = "x" },
		"no hash":        func(c *store.Credential) { c.Hash = "" },
		"an unknown kind": func(c *store.Credential) {
			c.Kind = "password"
		},
	} {
		bad := newCredential(store.CredentialToken, store.NewID(), store.Now())
		mod(bad)
		if err := s.Credentials().Create(ctx, bad); err == nil {
			t.Errorf("Create credential with %s succeeded", name)
		}
	}
}

func testCredentialList(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice, bob := store.NewID(), store.NewID()
	base := store.Now().Add(-time.Hour)
	kinds := []string{store.CredentialToken, store.CredentialSession, store.CredentialTicket}
	var all []*store.Credential
	for i := range 12 {
		user := alice
		if i%3 == 0 {
			user = bob
		}
		// Pairs share a Created time, so the id tie-break is exercised.
		c := newCredential(kinds[i%len(kinds)], user, base.Add(time.Duration(i/2)*time.Second))
		all = append(all, c)
	}
	for _, i := range []int{5, 0, 11, 3, 8, 1, 10, 2, 7, 4, 9, 6} {
		must(t, s.Credentials().Create(ctx, all[i]))
	}
	slices.SortFunc(all, func(a, b *store.Credential) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	for _, f := range []store.CredentialFilter{
		{}, {Kind: store.CredentialToken}, {UserID: alice}, {Kind: store.CredentialSession, UserID: bob},
		{UserID: store.NewID()},
	} {
		var want []*store.Credential
		for _, c := range all {
			if (f.Kind == "" || c.Kind == f.Kind) && (f.UserID == "" || c.UserID == f.UserID) {
				want = append(want, c)
			}
		}
		got, err := s.Credentials().List(ctx, f)
		must(t, err)
		if len(got) != len(want) {
			t.Fatalf("List(%+v) returned %d credentials, want %d", f, len(got), len(want))
		}
		for i := range got {
			equalCredential(t, &got[i], want[i])
		}
	}
}

// testCredentialSingleUse checks that Delete is how a ticket is used once:
// of many callers deleting it at the same time, exactly one succeeds.
func testCredentialSingleUse(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := newCredential(store.CredentialTicket, store.NewID(), store.Now())
	must(t, s.Credentials().Create(ctx, c))
	must(t, s.Credentials().Delete(ctx, c.ID))
	isErr(t, s.Credentials().Delete(ctx, c.ID), store.ErrNotFound, "second Delete of a ticket")
	_, err := s.Credentials().GetByHash(ctx, c.Hash)
	isErr(t, err, store.ErrNotFound, "GetByHash of a deleted ticket")

	for range 5 {
		c := newCredential(store.CredentialTicket, store.NewID(), store.Now())
		must(t, s.Credentials().Create(ctx, c))
		const callers = 8
		errs := make(chan error, callers)
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() { errs <- s.Credentials().Delete(ctx, c.ID) })
		}
		wg.Wait()
		close(errs)
		won := 0
		for err := range errs {
			switch {
			case err == nil:
				won++
			default:
				isErr(t, err, store.ErrNotFound, "losing Delete of a ticket")
			}
		}
		if won != 1 {
			t.Fatalf("%d of %d concurrent Deletes of one ticket succeeded, want exactly 1", won, callers)
		}
	}
}

func testCredentialDeleteMatching(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice, bob := store.NewID(), store.NewID()
	now := store.Now()
	var aliceAll, aliceSessions []string
	var bobs []*store.Credential
	for i, kind := range []string{store.CredentialToken, store.CredentialSession, store.CredentialSession, store.CredentialTicket} {
		c := newCredential(kind, alice, now.Add(time.Duration(i)*time.Second))
		must(t, s.Credentials().Create(ctx, c))
		aliceAll = append(aliceAll, c.ID)
		if kind == store.CredentialSession {
			aliceSessions = append(aliceSessions, c.ID)
		}
		b := newCredential(kind, bob, now)
		must(t, s.Credentials().Create(ctx, b))
		bobs = append(bobs, b)
	}

	if ids, err := s.Credentials().DeleteMatching(ctx, store.CredentialFilter{}); err == nil {
		t.Errorf("DeleteMatching with a zero filter succeeded (deleted %d)", len(ids))
	}
	if all, err := s.Credentials().List(ctx, store.CredentialFilter{}); err != nil || len(all) != 8 {
		t.Fatalf("after a refused DeleteMatching: %d credentials (%v), want 8", len(all), err)
	}

	sameSet := func(what string, got, want []string) {
		t.Helper()
		got, want = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
		if !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", what, got, want)
		}
	}
	ids, err := s.Credentials().DeleteMatching(ctx, store.CredentialFilter{Kind: store.CredentialSession, UserID: alice})
	must(t, err)
	sameSet("deleted sessions of alice", ids, aliceSessions)
	ids, err = s.Credentials().DeleteMatching(ctx, store.CredentialFilter{UserID: alice})
	must(t, err)
	sameSet("deleted rest of alice", ids, slices.DeleteFunc(slices.Clone(aliceAll), func(id string) bool {
		return slices.Contains(aliceSessions, id)
	}))
	ids, err = s.Credentials().DeleteMatching(ctx, store.CredentialFilter{UserID: alice})
	must(t, err)
	sameSet("deleted again", ids, nil)

	left, err := s.Credentials().List(ctx, store.CredentialFilter{})
	must(t, err)
	var bobIDs []string
	for _, b := range bobs {
		bobIDs = append(bobIDs, b.ID)
	}
	sameSet("credentials left", credentialIDs(left), bobIDs)

	ids, err = s.Credentials().DeleteMatching(ctx, store.CredentialFilter{Kind: store.CredentialTicket})
	must(t, err)
	sameSet("deleted tickets", ids, []string{bobs[3].ID})
}

func testCredentialDeleteExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := store.Now()
	user := store.NewID()
	mk := func(expires time.Time) *store.Credential {
		c := newCredential(store.CredentialSession, user, now.Add(-time.Hour))
		c.Expires = expires
		must(t, s.Credentials().Create(ctx, c))
		return c
	}
	never := mk(time.Time{})
	gone1 := mk(now.Add(-time.Hour))
	gone2 := mk(now.Add(-time.Millisecond))
	atNow := mk(now) // not before now: kept
	later := mk(now.Add(time.Hour))

	n, err := s.Credentials().DeleteExpired(ctx, now)
	must(t, err)
	if n != 2 {
		t.Errorf("DeleteExpired = %d, want 2", n)
	}
	for _, c := range []*store.Credential{gone1, gone2} {
		_, err := s.Credentials().Get(ctx, c.ID)
		isErr(t, err, store.ErrNotFound, "Get an expired credential after DeleteExpired")
	}
	for _, c := range []*store.Credential{never, atNow, later} {
		got, err := s.Credentials().Get(ctx, c.ID)
		must(t, err)
		equalCredential(t, got, c)
	}
	n, err = s.Credentials().DeleteExpired(ctx, now)
	must(t, err)
	if n != 0 {
		t.Errorf("second DeleteExpired = %d, want 0", n)
	}
}
