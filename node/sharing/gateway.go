package sharing

import (
	"context"

	"github.com/medchain/medchain/node/gateway"
)

// HTTPSGateway is the GatewayFetcher of real nodes: node/gateway's client,
// TLS 1.3 to the custodian's published URL, trusted only by the
// certificate fingerprint the chain holds.
func HTTPSGateway(ctx context.Context, r GatewayRequest) (*GatewayResult, error) {
	res, err := gateway.Fetch(ctx, gateway.ClientRequest(r))
	if err != nil {
		return nil, err
	}
	return (*GatewayResult)(res), nil
}
