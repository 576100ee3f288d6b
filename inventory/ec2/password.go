package ec2

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"golang.org/x/crypto/ssh"

	"github.com/fleetrun/fleetrun/inventory"
)

// ErrPasswordNotReady is matched (errors.Is) when EC2 has no password for
// an instance yet: Windows generates it during the first boot, which takes
// a few minutes after launch, and instances launched from custom images
// may never have one.
var ErrPasswordNotReady = errors.New("password not available yet")

// loadKey reads the launch key pair's private key: PEM (PKCS #1 or #8, as
// EC2 hands it out) or OpenSSH format, RSA only (EC2 encrypts Windows
// passwords with RSA), and a regular file readable by its owner only, like
// password files.
func loadKey(path string) (*rsa.PrivateKey, error) {
	data, err := inventory.ReadSecretFile("password_key_file", path, maxKeyFileSize)
	if err != nil {
		return nil, err
	}
	return parseKey(path, data)
}

// maxKeyFileSize bounds the key file read: an RSA key of 16384 bits in PEM
// takes about 12.5 KiB.
const maxKeyFileSize = 16 << 10

func parseKey(path string, data []byte) (*rsa.PrivateKey, error) {
	raw, err := ssh.ParseRawPrivateKey(data)
	if err != nil {
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, fmt.Errorf("password_key_file %s is protected by a passphrase; give the unencrypted key EC2 created (or decrypt a copy kept with mode 0600)", path)
		}
		return nil, fmt.Errorf("password_key_file %s: expected an RSA private key in PEM or OpenSSH format: %w", path, err)
	}
	key, ok := raw.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("password_key_file %s holds a %T key; EC2 encrypts Windows passwords for RSA key pairs only", path, raw)
	}
	return key, nil
}

// passwordSource fetches and decrypts one instance's password on first use
// and keeps it for the run (failures are not kept, so a later call may
// succeed once the password exists).
type passwordSource struct {
	sess   *session
	region string
	id     string

	mu sync.Mutex
	pw string
}

func newPasswordSource(s *session, region, id string) *passwordSource {
	return &passwordSource{sess: s, region: region, id: id}
}

// get returns the instance's Windows Administrator password.
func (p *passwordSource) get(ctx context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pw != "" {
		return p.pw, nil
	}
	var out *ec2.GetPasswordDataOutput
	err := p.sess.call(ctx, func(ctx context.Context) error {
		var err error
		out, err = p.sess.clients[p.region].GetPasswordData(ctx, &ec2.GetPasswordDataInput{InstanceId: aws.String(p.id)})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("instance %s: %w", p.id, p.sess.apiError(p.region, "GetPasswordData", err))
	}
	data := strings.TrimSpace(aws.ToString(out.PasswordData))
	if data == "" {
		return "", fmt.Errorf("ec2: instance %s in %s: GetPasswordData: %w (Windows sets it during the first boot, a few minutes after launch)", p.id, p.region, ErrPasswordNotReady)
	}
	pw, err := decryptPassword(p.sess.key, data)
	if err != nil {
		return "", fmt.Errorf("ec2: instance %s in %s: %w", p.id, p.region, err)
	}
	p.pw = pw
	return pw, nil
}

// decryptPassword decrypts GetPasswordData's PasswordData: base64 of the
// password encrypted with RSA PKCS #1 v1.5 for the launch key pair.
func decryptPassword(key *rsa.PrivateKey, data string) (string, error) {
	ct, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(data), ""))
	if err != nil {
		return "", fmt.Errorf("GetPasswordData returned password data that is not base64: %w", err)
	}
	// EC2 chose PKCS #1 v1.5; Decrypt with nil options performs it. This
	// is a client decrypting AWS's answer once, not a decryption oracle.
	pt, err := key.Decrypt(nil, ct, nil)
	if err != nil {
		return "", fmt.Errorf("decrypting the Windows password: %w (was the instance launched with the key pair of password_key_file?)", err)
	}
	return string(pt), nil
}
