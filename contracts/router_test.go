package contracts

import (
	"errors"
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts/pb"
)

var errTooShort = errors.New("text too short")

func testHandler(typ string, roles ...pb.Role) Handler {
	return Handler{
		Type:  typ,
		Roles: roles,
		New:   func() proto.Message { return &pb.PostMemo{} },
		Validate: func(m proto.Message) error {
			if len(m.(*pb.PostMemo).Text) < 2 {
				return errTooShort
			}
			return nil
		},
		Exec: func(*Context, proto.Message) error { return nil },
	}
}

func payload(t *testing.T, m proto.Message) []byte {
	t.Helper()
	bz, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return bz
}

func TestRouterPrepare(t *testing.T) {
	r := NewRouter(testHandler("memo.post", pb.Role_ROLE_DOCTOR), testHandler("memo.nobody"))
	good := payload(t, &pb.PostMemo{Text: "hello"})
	unknownField := protowire.AppendVarint(protowire.AppendTag(good, 9, protowire.VarintType), 1)

	tests := []struct {
		name    string
		typ     string
		payload []byte
		want    error // nil = prepared
		wraps   error // a cause the error must also carry
	}{
		{"a known type with a valid payload is prepared", "memo.post", good, nil, nil},
		{"an unknown type is refused", "memo.delete", good, ErrUnknownTxType, nil},
		{"a payload that does not decode is refused", "memo.post", []byte{0xff}, ErrInvalidPayload, nil},
		{"a payload with an unknown field is refused", "memo.post", unknownField, ErrInvalidPayload, nil},
		{"a payload its handler finds invalid is refused with the handler's reason", "memo.post", payload(t, &pb.PostMemo{Text: "x"}), ErrInvalidPayload, errTooShort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := r.Prepare(tt.typ, tt.payload)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Prepare: %v", err)
				}
				if p.Handler.Type != tt.typ || p.Msg.(*pb.PostMemo).Text != "hello" {
					t.Fatalf("prepared %q %v", p.Handler.Type, p.Msg)
				}
				return
			}
			if !errors.Is(err, tt.want) || p != nil {
				t.Fatalf("Prepare = %v, %v; want %v", p, err, tt.want)
			}
			if tt.wraps != nil && !errors.Is(err, tt.wraps) {
				t.Fatalf("err %v does not carry %v", err, tt.wraps)
			}
		})
	}
}

func TestPreparedAuthorizeDeniesByDefault(t *testing.T) {
	r := NewRouter(testHandler("memo.post", pb.Role_ROLE_DOCTOR, pb.Role_ROLE_PATIENT), testHandler("memo.nobody"))
	good := payload(t, &pb.PostMemo{Text: "hello"})
	tests := []struct {
		name string
		typ  string
		role pb.Role
		ok   bool
	}{
		{"a listed role is allowed", "memo.post", pb.Role_ROLE_PATIENT, true},
		{"an unlisted role is denied", "memo.post", pb.Role_ROLE_OPERATOR, false},
		{"the unspecified role is denied", "memo.post", pb.Role_ROLE_UNSPECIFIED, false},
		{"a role number no one knows is denied", "memo.post", pb.Role(99), false},
		{"a handler listing no roles denies everyone", "memo.nobody", pb.Role_ROLE_DOCTOR, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := r.Prepare(tt.typ, good)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Authorize(tt.role)
			if tt.ok != (err == nil) || (!tt.ok && !errors.Is(err, ErrUnauthorized)) {
				t.Fatalf("Authorize(%s) = %v, want allowed=%v", tt.role, err, tt.ok)
			}
		})
	}
}

func TestRouterTypesAreSorted(t *testing.T) {
	r := NewRouter(testHandler("b.x"), testHandler("a.y"), testHandler("a.x"))
	if got, want := r.Types(), []string{"a.x", "a.y", "b.x"}; !slices.Equal(got, want) {
		t.Fatalf("Types = %v, want %v", got, want)
	}
}

func TestNewRouterPanicsOnAWiringBug(t *testing.T) {
	incomplete := testHandler("memo.post")
	incomplete.Exec = nil
	tests := []struct {
		name string
		hs   []Handler
	}{
		{"a handler registered twice panics", []Handler{testHandler("memo.post"), testHandler("memo.post")}},
		{"a handler without Exec panics", []Handler{incomplete}},
		{"a handler without a type panics", []Handler{testHandler("")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("NewRouter did not panic")
				}
			}()
			NewRouter(tt.hs...)
		})
	}
}

func TestContextCollectsEventsInOrder(t *testing.T) {
	ctx := NewContext(Block{Height: 3}, NewCache(newMemStore()), &pb.Account{Address: "mc1"}, 4)
	ctx.Emit("a.one", Attr{Key: "k", Value: "1", Index: true})
	ctx.Emit("a.two")
	ev := ctx.Events()
	if len(ev) != 2 || ev[0].Type != "a.one" || ev[1].Type != "a.two" || ev[0].Attrs[0] != (Attr{"k", "1", true}) {
		t.Fatalf("Events = %+v", ev)
	}
}
