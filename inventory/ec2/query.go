package ec2

import (
	"context"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/fleetrun/fleetrun/inventory"
)

// inputs returns one DescribeInstances request per query of spec: the
// section's own filters alone, or combined with each any_of alternative.
// Filters come in a fixed order (tags, tag keys, other filters, state,
// platform) so requests are reproducible.
func inputs(spec *inventory.EC2Spec) []*ec2.DescribeInstancesInput {
	alts := spec.AnyOf
	if len(alts) == 0 {
		alts = []inventory.EC2Query{{}}
	}
	out := make([]*ec2.DescribeInstancesInput, 0, len(alts))
	for i := range alts {
		in := &ec2.DescribeInstancesInput{}
		addQuery(in, &spec.EC2Query)
		addQuery(in, &alts[i])
		states := spec.States
		if len(states) == 0 {
			states = []string{"running"}
		}
		in.Filters = append(in.Filters, filter("instance-state-name", states))
		if spec.Platform == "" || spec.Platform == "windows" {
			in.Filters = append(in.Filters, filter("platform", []string{"windows"}))
		}
		out = append(out, in)
	}
	return out
}

func addQuery(in *ec2.DescribeInstancesInput, q *inventory.EC2Query) {
	for _, k := range slices.Sorted(maps.Keys(q.Tags)) {
		in.Filters = append(in.Filters, filter("tag:"+k, q.Tags[k]))
	}
	// "tag:KEY" with the wildcard "*" (zero or more characters) matches
	// every value of KEY, empty included, and unlike one "tag-key" filter
	// with several values it ANDs with the other keys.
	for _, k := range q.TagKeys {
		in.Filters = append(in.Filters, filter("tag:"+k, []string{"*"}))
	}
	for _, name := range slices.Sorted(maps.Keys(q.Filters)) {
		in.Filters = append(in.Filters, filter(name, q.Filters[name]))
	}
	in.InstanceIds = append(in.InstanceIds, q.InstanceIDs...)
}

func filter(name string, values []string) types.Filter {
	return types.Filter{Name: aws.String(name), Values: slices.Clone(values)}
}

// pageSize is the MaxResults discovery asks for, within EC2's [5, 1000].
func (o *Options) pageSize() int32 {
	switch {
	case o.PageSize <= 0 || o.PageSize > 1000:
		return 1000
	case o.PageSize < 5:
		return 5
	}
	return int32(o.PageSize)
}

// list runs every query of the section in one region, following NextToken
// to the end, and returns the instances in the order EC2 listed them
// (duplicates across queries included; collect removes them).
func (s *session) list(ctx context.Context, region string) ([]*found, error) {
	client := s.clients[region]
	var out []*found
	for _, in := range inputs(s.spec) {
		var limit int32
		if len(in.InstanceIds) == 0 {
			limit = s.opts.pageSize() // EC2 refuses MaxResults together with instance ids
		}
		p := ec2.NewDescribeInstancesPaginator(client, in, func(o *ec2.DescribeInstancesPaginatorOptions) {
			o.Limit = limit
			o.StopOnDuplicateToken = true
		})
		for p.HasMorePages() {
			var page *ec2.DescribeInstancesOutput
			err := s.call(ctx, func(ctx context.Context) error {
				var err error
				page, err = p.NextPage(ctx)
				return err
			})
			if err != nil {
				return nil, s.apiError(region, "DescribeInstances", err)
			}
			for ri := range page.Reservations {
				res := &page.Reservations[ri]
				for ii := range res.Instances {
					inst := &res.Instances[ii]
					out = append(out, &found{sess: s, region: region, id: aws.ToString(inst.InstanceId), inst: inst, groups: slices.Clone(s.spec.Groups)})
				}
			}
		}
	}
	return out, nil
}
