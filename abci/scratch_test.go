package abci

import ("testing"; "github.com/medchain/medchain/contracts/pb")

func TestScratchGenesis(t *testing.T) {
	c := newTestChain(t)
	app, _ := c.newApp(t)
	r := checkTx(t, app, registerTx(t, c.op1, 0, newUser("p"), pb.Role_ROLE_PATIENT), 0)
	t.Logf("%d %s", r.Code, r.Log)
}
