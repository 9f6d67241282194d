package aws

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/pricing"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics of the aws backend.
var (
	requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_aws_requests_total",
		Help: "AWS API calls by service, operation and outcome (ok or the AWS error code), after the SDK's retries.",
	}, []string{"service", "operation", "code"})
	retries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_aws_retries_total",
		Help: "Attempts the SDK's retryer added to AWS API calls (throttling, 5xx), by service and operation.",
	}, []string{"service", "operation"})
	fleetRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_aws_fleet_requests_total",
		Help: "CreateFleet requests by outcome: launched, partial (launched after some offerings had no capacity), insufficient_capacity, error.",
	}, []string{"outcome"})
	priceRefreshes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tailor_aws_price_refreshes_total",
		Help: "Refreshes of instance types, on-demand and spot prices by source and outcome (on error the previous data, at start-up the built-in catalogue, stay).",
	}, []string{"source", "outcome"})
)

func init() {
	metrics.Registry.MustRegister(requests, retries, fleetRequests, priceRefreshes)
}

// LoadConfig is the SDK configuration Tailor's clients share: credentials
// from the default chain (environment, IRSA web identity, EKS Pod
// Identity, instance role), region, an endpoint override for tests
// (empty: AWS's; the SDK's AWS_ENDPOINT_URL works too), and the SDK's
// standard retryer — exponential backoff with jitter on throttling
// (RequestLimitExceeded, Throttling) and 5xx — with maxAttempts attempts
// and at most 20 s between them.
func LoadConfig(ctx context.Context, region, endpoint string, maxAttempts int) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(region),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = maxAttempts
				o.MaxBackoff = 20 * time.Second
			})
		}),
	}
	if endpoint != "" {
		opts = append(opts, config.WithBaseEndpoint(endpoint))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return cfg, err
	}
	cfg.APIOptions = append(cfg.APIOptions, addMetrics)
	return cfg, nil
}

// NewClients builds the EC2, SSM, Pricing and SQS clients. The Pricing API is
// served from us-east-1, eu-central-1 and ap-south-1 only: the nearest is
// used (prices are still read for the cluster's region).
func NewClients(cfg aws.Config) Clients {
	return Clients{
		EC2: ec2.NewFromConfig(cfg),
		SSM: ssm.NewFromConfig(cfg),
		SQS: sqs.NewFromConfig(cfg),
		Pricing: pricing.NewFromConfig(cfg, func(o *pricing.Options) {
			o.Region = PricingRegion(cfg.Region)
		}),
	}
}

// PricingRegion is the Pricing API region nearest to region.
func PricingRegion(region string) string {
	switch {
	case strings.HasPrefix(region, "eu-"), strings.HasPrefix(region, "me-"), strings.HasPrefix(region, "il-"), strings.HasPrefix(region, "af-"):
		return "eu-central-1"
	case strings.HasPrefix(region, "ap-"):
		return "ap-south-1"
	}
	return "us-east-1"
}

// addMetrics counts every call once it is done (after retries).
func addMetrics(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("TailorMetrics",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			service, op := awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx)
			code := "ok"
			if err != nil {
				code = "error"
				var ae smithy.APIError
				if errors.As(err, &ae) {
					code = ae.ErrorCode()
				}
			}
			requests.WithLabelValues(service, op, code).Inc()
			if res, ok := retry.GetAttemptResults(md); ok && len(res.Results) > 1 {
				retries.WithLabelValues(service, op).Add(float64(len(res.Results) - 1))
			}
			return out, md, err
		}), middleware.After)
}
