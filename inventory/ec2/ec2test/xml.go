package ec2test

import (
	"encoding/xml"
	"strings"
	"time"
)

// The DescribeInstances response in the shape of the EC2 API reference's
// example: reservationSet > item > instancesSet > item, element names in
// lower camel case, sets as <item> lists, nextToken last.

type describeResponse struct {
	XMLName      xml.Name       `xml:"DescribeInstancesResponse"`
	Xmlns        string         `xml:"xmlns,attr"`
	RequestID    string         `xml:"requestId"`
	Reservations reservationSet `xml:"reservationSet"`
	NextToken    string         `xml:"nextToken,omitempty"`
}

type reservationSet struct {
	Items []reservationXML `xml:"item"`
}

type reservationXML struct {
	ReservationID string        `xml:"reservationId"`
	OwnerID       string        `xml:"ownerId"`
	Groups        struct{}      `xml:"groupSet"`
	Instances     []instanceXML `xml:"instancesSet>item"`
}

type stateXML struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

type placementXML struct {
	AvailabilityZone string `xml:"availabilityZone"`
	GroupName        string `xml:"groupName"`
	Tenancy          string `xml:"tenancy"`
}

type tagXML struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type ipv6XML struct {
	Address string `xml:"ipv6Address"`
}

type interfaceXML struct {
	NetworkInterfaceID string    `xml:"networkInterfaceId"`
	SubnetID           string    `xml:"subnetId,omitempty"`
	VPCID              string    `xml:"vpcId,omitempty"`
	Status             string    `xml:"status"`
	PrivateIPAddress   string    `xml:"privateIpAddress,omitempty"`
	PrivateDNSName     string    `xml:"privateDnsName,omitempty"`
	IPv6Addresses      []ipv6XML `xml:"ipv6AddressesSet>item"`
}

type instanceXML struct {
	InstanceID       string         `xml:"instanceId"`
	ImageID          string         `xml:"imageId"`
	State            stateXML       `xml:"instanceState"`
	PrivateDNSName   string         `xml:"privateDnsName"`
	DNSName          string         `xml:"dnsName"`
	Reason           string         `xml:"reason"`
	KeyName          string         `xml:"keyName,omitempty"`
	AMILaunchIndex   int            `xml:"amiLaunchIndex"`
	ProductCodes     struct{}       `xml:"productCodes"`
	InstanceType     string         `xml:"instanceType"`
	LaunchTime       string         `xml:"launchTime"`
	Placement        placementXML   `xml:"placement"`
	Platform         string         `xml:"platform,omitempty"`
	Monitoring       string         `xml:"monitoring>state"`
	SubnetID         string         `xml:"subnetId,omitempty"`
	VPCID            string         `xml:"vpcId,omitempty"`
	PrivateIPAddress string         `xml:"privateIpAddress,omitempty"`
	IPAddress        string         `xml:"ipAddress,omitempty"`
	SourceDestCheck  bool           `xml:"sourceDestCheck"`
	Architecture     string         `xml:"architecture"`
	RootDeviceType   string         `xml:"rootDeviceType"`
	RootDeviceName   string         `xml:"rootDeviceName"`
	Virtualization   string         `xml:"virtualizationType"`
	ClientToken      string         `xml:"clientToken"`
	Tags             []tagXML       `xml:"tagSet>item"`
	Hypervisor       string         `xml:"hypervisor"`
	Interfaces       []interfaceXML `xml:"networkInterfaceSet>item"`
	EBSOptimized     bool           `xml:"ebsOptimized"`
	PlatformDetails  string         `xml:"platformDetails"`
	UsageOperation   string         `xml:"usageOperation"`
	IPv6Address      string         `xml:"ipv6Address,omitempty"`
}

func reservationOf(inst *Instance) reservationXML {
	suffix := strings.TrimPrefix(inst.ID, "i-")
	launch := inst.LaunchTime
	if launch.IsZero() {
		launch = time.Date(2024, 4, 1, 9, 0, 0, 0, time.UTC)
	}
	x := instanceXML{
		InstanceID:       inst.ID,
		ImageID:          "ami-0fake" + suffix[:min(8, len(suffix))],
		State:            stateXML{Code: stateCodes[inst.state()], Name: inst.state()},
		PrivateDNSName:   inst.PrivateDNS,
		DNSName:          inst.PublicDNS,
		KeyName:          inst.KeyName,
		InstanceType:     inst.instanceType(),
		LaunchTime:       launch.UTC().Format("2006-01-02T15:04:05.000Z"),
		Placement:        placementXML{AvailabilityZone: inst.zone(), Tenancy: "default"},
		Platform:         inst.Platform,
		Monitoring:       "disabled",
		VPCID:            inst.VPCID,
		PrivateIPAddress: inst.PrivateIP,
		IPAddress:        inst.PublicIP,
		SourceDestCheck:  true,
		Architecture:     "x86_64",
		RootDeviceType:   "ebs",
		RootDeviceName:   "/dev/sda1",
		Virtualization:   "hvm",
		Hypervisor:       "xen",
		PlatformDetails:  inst.platformDetails(),
		UsageOperation:   "RunInstances",
		IPv6Address:      inst.IPv6,
	}
	if inst.Platform == "windows" {
		x.UsageOperation = "RunInstances:0002"
	}
	for _, t := range inst.Tags {
		x.Tags = append(x.Tags, tagXML(t))
	}
	ni := interfaceXML{NetworkInterfaceID: "eni-0fake" + suffix, VPCID: inst.VPCID, Status: "in-use",
		PrivateIPAddress: inst.PrivateIP, PrivateDNSName: inst.PrivateDNS}
	if inst.IPv6 != "" {
		ni.IPv6Addresses = []ipv6XML{{inst.IPv6}}
	}
	x.Interfaces = []interfaceXML{ni}
	return reservationXML{ReservationID: "r-0fake" + suffix, OwnerID: "123456789012", Instances: []instanceXML{x}}
}
