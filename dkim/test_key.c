/*
 * test_key.c - DKIM private keys: keys written by OpenSSL (PKCS#1 and
 * PKCS#8 RSA, PKCS#8 Ed25519) parse, publish the same public key as
 * `openssl pkey -pubout`, and write back; generated keys survive
 * generate -> PEM -> parse; broken, foreign and weak keys are refused with
 * a message saying why.
 *
 * The fixtures below were made once with OpenSSL 3.0 (the commands are
 * above each); the expected records are `openssl pkey -pubout -outform
 * DER | base64` of the same keys (for Ed25519, its last 32 octets).
 */
#include "dkim-int.h"
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* openssl genrsa -traditional 1024 */
static const char rsa1024_pkcs1[] =
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIICXQIBAAKBgQCxfhKK2ii3BvWQ4NhYLsoni7VdbbVKdgko6A0Cp353pL2h0DU+\n"
    "5FyVk7WZqPsT0keTCjj71LlenXx4pszfSWfk65xBg5T1UMUNEFsUNTUCICONX/B6\n"
    "Kfx51VlTjEay1TfDqkjDWYAUS5gt8ubcEpnUtO3Rx84Di/mMfDOjye6ANQIDAQAB\n"
    "AoGBAJNYCoKUSnpuX4su7Mp/xTgBBcWSno464K3BvZM3gohGDVp4Isub/bP6VCZE\n"
    "nnI8/Uf2k4mTdXMzH7J1Hdw67vA6gOJgvU2dbcXagdAEvBat5/byaX8hEGCbHTVZ\n"
    "+db2uym5oWBFJ3+sP5Nybg6zhNKYzddmds02vKKm7mQGP/hBAkEA6wg1ups3vl95\n"
    "xRtO0/As+zmEE9+7rriasr21wWTXVArAv++O7JD94nlYXdhEgwfO/dN9MovNdbvG\n"
    "kJrYsRU+pQJBAMFTve4yePLnWuSiXKEd2vvSvFGjp7MlCJ26EpOB84S98RoABKYK\n"
    "VTmQ5VYI12M1rDDsxXJPcJeHaV27ZvKtllECQBqwWfmQuqnBicBaM39ZnKICi/79\n"
    "vwA+MkLty//kBZejiPPCrkYqyMm44dH2RwFiF503MNZWjcQ6yHePPeAN+4kCQCx6\n"
    "fcodpqIMBGdxy2nuGoGxfE40HtMihBb1xmxVi5dQs/XNZ0RkQDNcWMcwhY13vcQL\n"
    "1Wl1SWwzZVSBVzAiK+ECQQCfOi8JLaozH6grongQNWXEfedXVYZm95jUBrQUNUSu\n"
    "Xf1BP1+9471VbdCq3qEPvqbFjrrwzO/NzCp1r4q2DjRn\n"
    "-----END RSA PRIVATE KEY-----\n";
/* openssl pkey -pubout -outform DER | base64 */
static const char rsa1024_pkcs1_record[] =
    "v=DKIM1; k=rsa; "
    "p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCxfhKK2ii3BvWQ4NhYLsoni7VdbbVKdgko6A0Cp353pL2h0DU+"
    "5FyVk7WZqPsT0keTCjj71LlenXx4pszfSWfk65xBg5T1UMUNEFsUNTUCICONX/"
    "B6Kfx51VlTjEay1TfDqkjDWYAUS5gt8ubcEpnUtO3Rx84Di/mMfDOjye6ANQIDAQAB";

/* openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 */
static const char rsa2048_pkcs8[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC5OvtMBZMn/k7I\n"
    "iZMtDeQ81/VZlNZ7t8VjS+hu4nGbDLnpZ7SV31E0jB8Oc7c0zSab7UqtgNXSHcTs\n"
    "0oA8JEHWlokrJ/R/kjeYESIYV3XrEsSepPzB57vNXQHjaQ8bwnEiTRcV8/qo4wxP\n"
    "bZUtIJ5Z6tUmqS1HCf1AAdIo5lMldRVcIfxuSGXflofbCB61XycoSwvK1AQVh7zw\n"
    "VjFhDJN7xH40yrQz3ZRmcIMyjy/VLTCAllBBvlX5WNidTiyLz7r0LWZY2VRyizPN\n"
    "fLuV5GIEVEwaCb5VyWDpkGVXjLHj5BXqO5oT8QxfWFOJN6H2EkCR1ThDrsfm30yk\n"
    "UL3A6NNlAgMBAAECggEAA9yLKxtNpU6LqWoWz6BjwvH0mzS7YPJkksydEJy3ZhZW\n"
    "lNtU3C/+4yPNrPE0H01skeEZRrMyIfJ9bbt4sWhHGBhkzSnE0tkDQDARQCUon+kx\n"
    "AKarX0Z7t40KEknZJwi/b4ngYpSGw/kRw2EjNEDjFDhNT8REnZ/DcA9pqHEeyB/W\n"
    "0QM7u3nRCxXie0zQryRA/HOSj3f1regX3HsRYKkbnQH335QqFHcMvvlJ22bvUoo4\n"
    "owXxmCjZJON9c/hlVpu50c7Th8B1F5icNdy9HKIAiCd6q6xXORzvy23m7Vk81hY3\n"
    "cGgizN8B5Nqz9acv+oD+qTTJFQMD3I9KZKKGgewYeQKBgQD7b2/jBGluoEWSCCd2\n"
    "R3Bot+EG+Gij1f24+fuNI6HmGPr+lGLyBfvP+OytNbGrrhplzHF14KcnbT21hOFl\n"
    "YpWIvz0JEYSFd/wD3zvrCYmztQQAOzFuHchX0Tonaq68b9rOxYcRdvp0iXWBGCn8\n"
    "Ghk85ROvFpg3fGJfosUKMLX5SQKBgQC8l9pKv1ntMb6/u052UJ7CDfAhM5G2jx9B\n"
    "dDxoPMN8+Y+rRqVf+Iy06wyameyCzIRCt8hcob7TKHHTy/Us54pn4heaTRho2Ysl\n"
    "6Uwb2ZPwkGyTazukH82GYTxFR5J1jnIz3hkRZR1sb/uvGgmMPzE+GRF9mM9iur/T\n"
    "xXXweD4FPQKBgAfVjwzpxEc4IzLLoj8jNrNsl0xaTRhdwIwU7euV4qOCv79S7EpS\n"
    "OWhffzBebezFffkSB67+kva9hqCzRTqdeb9LBiHUM+bcuDN+ryVBpNK+nyNKtN2T\n"
    "e/yQfllgD5W7fnvW18CJjoA3EDw3fodmYMbu9FAOSivgakhEkBMjNWhRAoGBAKDo\n"
    "Pwt/b858nu8fdLZl2s5e7f6l7TEBs/04m0GkdnZuxzGvOPJFMmg6E6rkoXKH5GC4\n"
    "RW8jYZjv7Q5z+l+xvdkcgl7YYHc1BQ/3mUQ5w4uA7eJpn51MtSJuW+oQQtmiC7ZN\n"
    "TL4Ws6ANe4POh07tq6n74XxzoJ3wEDMzSok9Tk1RAoGAE9CUwBOlFvbd9c7tGIHy\n"
    "EdwaBSquJT6xi2YjRH2p4r/Iw1Cbjs3P2v/xierlRW5jiNnCwLE5vzfZvBU4TaML\n"
    "nYDnToNyPyFhvQ9/kWCaCyojuzVu+FVGuc92ZZk3tlnwTJHouDoLeKjDEJK6ocki\n"
    "jlk3qIrAEfwYaSl+nIx+7ic=\n"
    "-----END PRIVATE KEY-----\n";
/* openssl pkey -pubout -outform DER | base64 */
static const char rsa2048_pkcs8_record[] =
    "v=DKIM1; k=rsa; "
    "p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAuTr7TAWTJ/"
    "5OyImTLQ3kPNf1WZTWe7fFY0vobuJxmwy56We0ld9RNIwfDnO3NM0mm+"
    "1KrYDV0h3E7NKAPCRB1paJKyf0f5I3mBEiGFd16xLEnqT8wee7zV0B42kPG8JxIk0XFfP6qOMMT22VLSCeWerVJqktRwn9"
    "QAHSKOZTJXUVXCH8bkhl35aH2wgetV8nKEsLytQEFYe88FYxYQyTe8R+NMq0M92UZnCDMo8v1S0wgJZQQb5V+"
    "VjYnU4si8+69C1mWNlUcoszzXy7leRiBFRMGgm+Vclg6ZBlV4yx4+QV6juaE/"
    "EMX1hTiTeh9hJAkdU4Q67H5t9MpFC9wOjTZQIDAQAB";

/* openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -pkeyopt rsa_keygen_pubexp:3 */
static const char rsa1024_e3[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIICdQIBADANBgkqhkiG9w0BAQEFAASCAl8wggJbAgEAAoGBAKDM13iL8PQKJyX8\n"
    "KvK31WXDKR3jwUTvcaZGgn+xUzQcqyU+y7xxQNJVXH9/VU3k51EuzjnR7+/toG7b\n"
    "7/6dZLxocY7CPEIpYtYP4jmwnZjBBGCxFD5mhrNCCFHsglsU0mVOR7I3aR2VxbST\n"
    "kapnurEnPhp8KWpXps8S8/o975jjAgEDAoGAazM6UF1LTVwaGVLHTHqOQ9dwvpfW\n"
    "LfT2btmsVSDiIr3HbindKEuAjDjoVP+OM+3vi3SJe+FKn/PASef1VGjt0eF9T+vE\n"
    "FczFTTQhDGXIRrvufsUxyOdjAA0mbHGxuwDDZf2x45GhmF/LLWg9d5e6SS+cRrfZ\n"
    "Fpxs6Dn443hDYdsCQQDUafzhTyEBKNnZMlNsr3DjxyA8Kz6YmCUM3OUSNyubql1G\n"
    "VDObCYxokHERBaQRZ9Ktd3rc+obOmNFxm2E4Pdh/AkEAwcuZ/0cAdRIIaH5Tq0G9\n"
    "w1eCTR5SctoOIXHKL8CW+ALvC2ipQe0snYR/Zi/S8rtwslw1i2lBnmqhSmND0Uyt\n"
    "nQJBAI2b/euKFgDF5pDMN53KS0KEwCgc1GW6w13omLbPcmfG6NmNd7yxCEW1oLYD\n"
    "wrZFNx5Ppz38Wd8Qi6ESQNApOv8CQQCBMmaqL1WjYVrwVDfHgSks5QGIvuGh5rQW\n"
    "S9wf1bn6rJ9c8HDWnh2+WFTuyoyh0kshks5c8NZpnGuG7Nfg3ckTAkA8gd05hppI\n"
    "5JST/WSNbuwHfbtnr+f4z0bVUKmHjJS6k2YWmwe2Zn5fqjh1kXiLUyzpBF+WMZ4e\n"
    "m4mCxGVgKj5+\n"
    "-----END PRIVATE KEY-----\n";
/* openssl pkey -pubout -outform DER | base64 */
static const char rsa1024_e3_record[] =
    "v=DKIM1; k=rsa; "
    "p=MIGdMA0GCSqGSIb3DQEBAQUAA4GLADCBhwKBgQCgzNd4i/D0Cicl/Cryt9Vlwykd48FE73GmRoJ/"
    "sVM0HKslPsu8cUDSVVx/f1VN5OdRLs450e/v7aBu2+/"
    "+nWS8aHGOwjxCKWLWD+I5sJ2YwQRgsRQ+ZoazQghR7IJbFNJlTkeyN2kdlcW0k5GqZ7qxJz4afClqV6bPEvP6Pe+"
    "Y4wIBAw==";

/* openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:4096 */
static const char rsa4096_pkcs8[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIJQQIBADANBgkqhkiG9w0BAQEFAASCCSswggknAgEAAoICAQCtbCeaRiXVSrIW\n"
    "KWcwEoE2RR4lbwaljG2L09qt/O2l+sR2kFbV0ebocAPxp4g25JLu+L3ZDK1ZgT6B\n"
    "mWJ4eiy3OV7yCBUXRMAaR30xayOYcay4cXExSLWf5BIQ3buQB16VqyLViKQi9gez\n"
    "u2z6tvWpfvOZVFBBPEo4jab0IIkpzIxy4sg+g9AB0gDo5tglhwJHjIcbmA5DxEVX\n"
    "29xhAYCtot0eZoRUXdf3Xqa5heY3zegw7ltYI/KYhQlPHehF7edtfEPOYtJ9cgzD\n"
    "iw4E4wTa3ZvuhYeCqLsYLN94LK5m1xIRKyLJ4agpQJ7pq3sn3xsqnYlGoXxlXVGa\n"
    "WpNS3480tlIuZvxgh7SHWEwcZjobHA/EbGwwaW/OLiEt/JxUbOn9z5z6lWNNjij+\n"
    "A7Qmx16sO5q5kbxGOHODZGeBhvzMT5oj47M7zIqYKxej4cIxao9An6P9yJxGryIk\n"
    "LY+v9fgUGM1IjsP6IenoZLh/4YD2b3zoRvGn80YWxYfY5w3ccSn8ZTSmUkJk0Uhh\n"
    "afh5HE50n4/B06rWsT7ZS60gfyjAx2oDL54JyYnidd57gSaGUlas/NwCmwjXfngJ\n"
    "s/bmMuPJ70IXmj3bfjeuN3LDhkCY1LlYcyrYNQ6a8LwPt4rT4Rebp4P/fq2N04Mn\n"
    "GlHbAWfop55OUg3Lk/Y+ffCYnkgN5wIDAQABAoICABllxqene0tGgliQMrOjGiJB\n"
    "CBOyXquoVQi5Ji78j4STJOo6OZqx1Vpta95xoGzC7SkrQN5vJq9TfWchzVPYjKuU\n"
    "BC13n+Ma/J6R9qnh8hdqxRaeooBLENz8MTsgG05nYzjnFGsSSlDGbZqq/wr5TXad\n"
    "CCmIjqz8b+A4D98efrKiPrVlNK9Bwu4+pkcgO5UaCxbrDoRXhfXzDLa7v7AYi2hN\n"
    "JYtEtz+FyNGfnn96tnGuFEGflBK58lbXhjqnJh5Lo5dwr0Yj9IX49G6UyEul6vmZ\n"
    "991RgpF7itQ/tMXW6/7/+KjkA4HDrErHqHOPMLJGUHuyu5PI+udQvdktnPgc6SNb\n"
    "ISqy6YRvvQbo2KjN/JufESFm0Ips5XvUqpXh6vZTlsLensrzsuacWVdIe3QLpVJX\n"
    "X1WMli+TFqNEjML2Df3H3jBH/0ICUHTG9ihulMQ6FmpToFV5aCojdgt/7mkm+Gux\n"
    "1HtgT9FbYay26XWAuqFHJCm9BXREP+qIVv09tWieGpM3RTOIWlXndGArblXMqevv\n"
    "1hb0yKiiGA+zYx52xzRF9iLUFvO78g8iKHL5bjwwQIaBQ7ABGbNB/DXTaFQprtEt\n"
    "moxzu+uNWObFu1hi2OyzOiAW3LtuWarbIpZ7mU47dcH3fgzj2UK1NDK+RLSPIsVh\n"
    "6Gf61uv2gL9UxBCQBlZdAoIBAQDtjKwGfPG9AJ0own40m8hfXx6MochhpTWdckmK\n"
    "WtetNBX9CwmwdhyyYvtD+V+TXFv5vMYubKNeNMY/FjVXfzNnm9FVsBMJiDHfU45C\n"
    "5iYYHWynTx/fQafyEQZ7reDjrYsI0vokMhQN+eskH7LiJMhIRLJIUIXZ7BOo7Ur+\n"
    "rQzCzywabKMOSV1d2lwIHH2SsD4xIRmGNQR2ulqqTUxTesXDYpMvNQVLXBbASJZr\n"
    "Yi+sF84qu2qC+QUY3e1rPn+2kll9gUcc8CYfFvEtU24O29cI293wXKIw442nPM5O\n"
    "6KAEHbllIhK7hz97S26vJtCJN0KMWgbgirNEtifyMAX5JgD9AoIBAQC65GjjmyZV\n"
    "RLQZ72/YnA2Z639kMylQ0/zRwOCZ1VT5XZ2ZnXh2fN0pbYeLK1F/lvKIfvwW/EDG\n"
    "MMC7kYeSnK4HwcoOh3kus4apOEqSojtaxGVF2NGBuzkPFJoubZkjVB/QbyvwPmnF\n"
    "/XlkwqpzjBWRLIgPxBR/2ZEWi0OnkqiDC+ch68OMJw8uxE3JNh3kW2dcKAQSxddr\n"
    "J4qXCf29AXXRGrtePwNEx8QjKwXUNpZ20f6ZGJJh/1rye8jDqNSboeRn7Vjwe+uQ\n"
    "OF8nDyLNCSX+IUo1AYxQRYhJ/NKq6psMXEN3N1l4Mybg/SKfCx5IW2sDSgaNFLhC\n"
    "QC1NQssgY+GzAoIBABbKuHam5krMFEgk4RcLG16LMdMscp1rzIkevg+YR7lGlhWB\n"
    "SZy0uGwlMxaChrkM04ZSpnEt2z7esWa8KsIKYlQ+jwc5rZnsh1x2F+AzVNRbfmFP\n"
    "Ji+1jPecypJzTHCL5hsiov12EJaGtBjzMaahANZuQOzPTQhrrjc3DUsCL4dBeWnP\n"
    "opVsVJj8qnfcw++fGVh9ZIWL8LGzj59naztXPEJS4uxUmf1xCH3KeSQ0d357ijxv\n"
    "XvjSC7snD/CKPpa11ABGtxv/rqis+tbuelDSpv8imVjGiolGTAEPxHuttiyu7WrW\n"
    "qhV0FJMv2Z7Uio2fz7LHsIE6zZh6IbsLAIe3LcECggEAAQp2nxXlH8JzMlXIDK/J\n"
    "z5qlKfyy9TVJCi4F0jWC9KSV1R4wZpCJdsqaX6cNHCXOEf6LDuG2xqPM3v6Pf7yJ\n"
    "p5dnta8BeMYdMOIUYD6xD+9aFQqBGDTfu3rE5Q9NNAoq5zFHUF44nparz2jaJCya\n"
    "jiVuWJAiARhIG5UI+mzxrVEqp2C1xRkOl5cWS9GWVwg/Sh8a7rPVYE5nEjJHDH9u\n"
    "lYyNkJfPP9nQ+NUrgiQPsHe48EdXwV33trQDyTsue/Np3z5OKYC3LiVyOjh2XCf5\n"
    "4zFyRVtN2cCZYrgawELwPCBja82OHQJD7Crcv4ADWinQLcOCx9Retle/KNf/Y53K\n"
    "ywKCAQBKLAOe1O5gybDcgs58+E9nU/dAuR32q8PEVfipYjotrrLc3YLDqd8cFNGn\n"
    "6tPHH9CpfraqT3c3RtNgas2tVPdk0zOpm/KYOcE7nfJ5+Da8epNkcCGYSSEvMnkM\n"
    "9LnSc5QZ9PLcKZjEoKpKW3cSod/0BXRDJApSjSjhDymgVWL5YtcRV7L/tqLiR0SD\n"
    "BRArV4LqECtc90Qj0Qur/dKJlx6Gi97fiFGcMIbhYk36b9vOm/Y882eNf3L+eGX5\n"
    "JXr1gAY6cQovUUyp5dtPyKUjJ9l1ApGO4SEvDk+NohKl/Kwt3hhafcZDFWDsgv/A\n"
    "LVyFQUG8oGRKqaQODy4oCk+ZjG55\n"
    "-----END PRIVATE KEY-----\n";
/* openssl pkey -pubout -outform DER | base64 */
static const char rsa4096_pkcs8_record[] =
    "v=DKIM1; k=rsa; "
    "p="
    "MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEArWwnmkYl1UqyFilnMBKBNkUeJW8GpYxti9ParfztpfrEdpBW1d"
    "Hm6HAD8aeINuSS7vi92QytWYE+gZlieHostzle8ggVF0TAGkd9MWsjmHGsuHFxMUi1n+"
    "QSEN27kAdelasi1YikIvYHs7ts+"
    "rb1qX7zmVRQQTxKOI2m9CCJKcyMcuLIPoPQAdIA6ObYJYcCR4yHG5gOQ8RFV9vcYQGAraLdHmaEVF3X916muYXmN83oMO5"
    "bWCPymIUJTx3oRe3nbXxDzmLSfXIMw4sOBOME2t2b7oWHgqi7GCzfeCyuZtcSESsiyeGoKUCe6at7J98bKp2JRqF8ZV1Rm"
    "lqTUt+PNLZSLmb8YIe0h1hMHGY6GxwPxGxsMGlvzi4hLfycVGzp/c+c+pVjTY4o/"
    "gO0JsderDuauZG8Rjhzg2RngYb8zE+aI+OzO8yKmCsXo+HCMWqPQJ+j/cicRq8iJC2Pr/"
    "X4FBjNSI7D+iHp6GS4f+GA9m986Ebxp/NGFsWH2OcN3HEp/"
    "GU0plJCZNFIYWn4eRxOdJ+PwdOq1rE+2UutIH8owMdqAy+"
    "eCcmJ4nXee4EmhlJWrPzcApsI1354CbP25jLjye9CF5o92343rjdyw4ZAmNS5WHMq2DUOmvC8D7eK0+EXm6eD/"
    "36tjdODJxpR2wFn6KeeTlINy5P2Pn3wmJ5IDecCAwEAAQ==";

/* openssl genpkey -algorithm ed25519 */
static const char ed25519_pkcs8[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIBH4xjej8ct4DW38ck4fAfEK/sjmsD/LyY7a0CRB7xwD\n"
    "-----END PRIVATE KEY-----\n";
/* openssl pkey -pubout -outform DER | base64 */
static const char ed25519_pkcs8_record[] =
    "v=DKIM1; k=ed25519; p=MNVLpaKEpegAmMsiSyWKKTcmtwFnhA2wyX0KApYdgi4=";

/* openssl genrsa -traditional 512 */
static const char rsa512_pkcs1[] =
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIBOgIBAAJBAOEn7ydVvAL72VsqrckzrMaR7PGfhqh4YvWW147zHxWC3CHRZ2yi\n"
    "L/+WCQwuh/diszZqQbj5Mm2683Z7/Xhwtx0CAwEAAQJAL3OvH2cePLK/WEtiXOkb\n"
    "HK5cdX/dbVwR3xhvTZ1Hi8ynLW4d2Tw71E5BJOLGQzRufIU2u2v1N586da981k0F\n"
    "sQIhAPxdyoFLscwINg0g6ovrtLB1ZM9wYpW/c+T0Tx7L5pznAiEA5GXY31Hn60JK\n"
    "TwtLfQKCwbeJgDW1EjKuOAJTFBg6Z1sCIQDbT8KhFB/h2KzoQdeyWta+lnZSEy+J\n"
    "RUS5DlsHv1ictwIgSR9qXaUlcSaaD9B37J//KPIP7aJERH1BVeE4o/hVyn0CIBSa\n"
    "KHA4JuNjfIoGk+YSvfH2LciSUjmr1FQ4K6d643Eu\n"
    "-----END RSA PRIVATE KEY-----\n";

/* openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 */
static const char ec_pkcs8[] = "-----BEGIN PRIVATE KEY-----\n"
                               "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgcz3/am5LfwPcj2NJ\n"
                               "34PFXD5VHW5XMGKs5O08eA8FuK+hRANCAAQG7n01lMP0hc5fTwa/fPKZIrjnMOvS\n"
                               "C5zVaPqTGuSwByacqNK6CjoBvGLz0pO0ktnj4bFxpwEBqUV6VekYOWXd\n"
                               "-----END PRIVATE KEY-----\n";

/* openssl ec (the same key as EC PRIVATE KEY) */
static const char ec_sec1[] = "-----BEGIN EC PRIVATE KEY-----\n"
                              "MHcCAQEEIHM9/2puS38D3I9jSd+DxVw+VR1uVzBirOTtPHgPBbivoAoGCCqGSM49\n"
                              "AwEHoUQDQgAEBu59NZTD9IXOX08Gv3zymSK45zDr0guc1Wj6kxrksAcmnKjSugo6\n"
                              "Abxi89KTtJLZ4+GxcacBAalFelXpGDll3Q==\n"
                              "-----END EC PRIVATE KEY-----\n";

/* openssl genpkey -algorithm ed448 */
static const char ed448_pkcs8[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MEcCAQAwBQYDK2VxBDsEOcPtoN3OWnAVA1NqVaaOLG21rAO2xHXEBO1hw03Txicv\n"
    "UdmCIukbsz+iASPvlY6z8X1WLELtP+7DfQ==\n"
    "-----END PRIVATE KEY-----\n";

/* openssl pkey -pubout: a public key */
static const char ed25519_public[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAMNVLpaKEpegAmMsiSyWKKTcmtwFnhA2wyX0KApYdgi4=\n"
    "-----END PUBLIC KEY-----\n";

/* openssl pkcs8 -topk8 -v2 aes-256-cbc (rsa1024_pkcs1) */
static const char rsa_encrypted[] =
    "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
    "MIIC3TBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQIif7Zwzd4sXsCAggA\n"
    "MAwGCCqGSIb3DQIJBQAwHQYJYIZIAWUDBAEqBBDcnohVXHB5YCo6TM2TnJ5HBIIC\n"
    "gDE1cPyFI7BjvOWAffU4mWv9T3KlL6999SftVHWbv1vLJNU1jVknFBg25gVK31Jm\n"
    "nWXSxTAkGLipnHLU7ML33EoWDAW3FI0fsQNqvSZQoms24NbD1uF2p2Rwy8gM4oIm\n"
    "8qo9Oio59GxGPE1g/VLvU2VP1YOtsd0L9sIFxpCRqJwCKCeKCNuPHVvT9jPV0e1L\n"
    "PE+h2P4EY9jw5ZoR6+45MUsWaqhk2GA2odl97qO3jsajHn1PMyvpSW91T/ITUiKl\n"
    "kCKPjTTttTGkUQWcnbKcBheCNXWu2hNIKag/HKEMo8P2wZM3EyZkpm+nzZKjk+Cg\n"
    "Ze83GDGGA7Rz9Im2lod0BmptXnddToi0o4lIviIYEIWGIRUtjUVEeGHFVSjjjs0r\n"
    "dy3L1STpSxpvCFpFwBMw6BeS0NEeQsmGogVjkmzk4pkbouugBVUJ9t9tBAfjDmoe\n"
    "h1SlBMCKH7pfAUlj2psyA7HydLPYBqqZcO7gw2/76scCoQKISspVQfH+Svbe32bf\n"
    "S8PM51z4H4diCZ3pBl14rWvB2GkQ/vRmS237pm0bbGgF6RvBNTycT5nM5Vx6uJXL\n"
    "wQnOJ27DeJWXHYxEcJg2VLT2YbN5TmuV2P4lCBueDgrjFv+SS+LWhvF0/sMDfHl8\n"
    "EUGwO2ebypK2DVNOlQ1/fDp9wCENy9Xfq7KWcKIjMWxw0RRMUQnZur3KpFRKHdTO\n"
    "PDK5if4of9ZbqBe0huCBctVN0YmorviRiXdd1CX17k8nHm2Drphhtho3HzaKSRmQ\n"
    "ctGfe2/lvV/JM2a+NWM+VxKDqTgYiPpJV2PIvs3PkqVjG5xUYXqJU5VWMIVGyUJ2\n"
    "8HEhT7r83Ur4AB7a/cjMMJ8=\n"
    "-----END ENCRYPTED PRIVATE KEY-----\n";

/* rsa1024_pkcs1 with one bit of n flipped */
static const char rsa_bad_modulus[] =
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIICXQIBAAKBgQCxfhKK2ii3BvWR4NhYLsoni7VdbbVKdgko6A0Cp353pL2h0DU+\n"
    "5FyVk7WZqPsT0keTCjj71LlenXx4pszfSWfk65xBg5T1UMUNEFsUNTUCICONX/B6\n"
    "Kfx51VlTjEay1TfDqkjDWYAUS5gt8ubcEpnUtO3Rx84Di/mMfDOjye6ANQIDAQAB\n"
    "AoGBAJNYCoKUSnpuX4su7Mp/xTgBBcWSno464K3BvZM3gohGDVp4Isub/bP6VCZE\n"
    "nnI8/Uf2k4mTdXMzH7J1Hdw67vA6gOJgvU2dbcXagdAEvBat5/byaX8hEGCbHTVZ\n"
    "+db2uym5oWBFJ3+sP5Nybg6zhNKYzddmds02vKKm7mQGP/hBAkEA6wg1ups3vl95\n"
    "xRtO0/As+zmEE9+7rriasr21wWTXVArAv++O7JD94nlYXdhEgwfO/dN9MovNdbvG\n"
    "kJrYsRU+pQJBAMFTve4yePLnWuSiXKEd2vvSvFGjp7MlCJ26EpOB84S98RoABKYK\n"
    "VTmQ5VYI12M1rDDsxXJPcJeHaV27ZvKtllECQBqwWfmQuqnBicBaM39ZnKICi/79\n"
    "vwA+MkLty//kBZejiPPCrkYqyMm44dH2RwFiF503MNZWjcQ6yHePPeAN+4kCQCx6\n"
    "fcodpqIMBGdxy2nuGoGxfE40HtMihBb1xmxVi5dQs/XNZ0RkQDNcWMcwhY13vcQL\n"
    "1Wl1SWwzZVSBVzAiK+ECQQCfOi8JLaozH6grongQNWXEfedXVYZm95jUBrQUNUSu\n"
    "Xf1BP1+9471VbdCq3qEPvqbFjrrwzO/NzCp1r4q2DjRn\n"
    "-----END RSA PRIVATE KEY-----\n";

/* rsa1024_pkcs1 with e = 65539 */
static const char rsa_bad_pubexp[] =
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIICXQIBAAKBgQCxfhKK2ii3BvWQ4NhYLsoni7VdbbVKdgko6A0Cp353pL2h0DU+\n"
    "5FyVk7WZqPsT0keTCjj71LlenXx4pszfSWfk65xBg5T1UMUNEFsUNTUCICONX/B6\n"
    "Kfx51VlTjEay1TfDqkjDWYAUS5gt8ubcEpnUtO3Rx84Di/mMfDOjye6ANQIDAQAD\n"
    "AoGBAJNYCoKUSnpuX4su7Mp/xTgBBcWSno464K3BvZM3gohGDVp4Isub/bP6VCZE\n"
    "nnI8/Uf2k4mTdXMzH7J1Hdw67vA6gOJgvU2dbcXagdAEvBat5/byaX8hEGCbHTVZ\n"
    "+db2uym5oWBFJ3+sP5Nybg6zhNKYzddmds02vKKm7mQGP/hBAkEA6wg1ups3vl95\n"
    "xRtO0/As+zmEE9+7rriasr21wWTXVArAv++O7JD94nlYXdhEgwfO/dN9MovNdbvG\n"
    "kJrYsRU+pQJBAMFTve4yePLnWuSiXKEd2vvSvFGjp7MlCJ26EpOB84S98RoABKYK\n"
    "VTmQ5VYI12M1rDDsxXJPcJeHaV27ZvKtllECQBqwWfmQuqnBicBaM39ZnKICi/79\n"
    "vwA+MkLty//kBZejiPPCrkYqyMm44dH2RwFiF503MNZWjcQ6yHePPeAN+4kCQCx6\n"
    "fcodpqIMBGdxy2nuGoGxfE40HtMihBb1xmxVi5dQs/XNZ0RkQDNcWMcwhY13vcQL\n"
    "1Wl1SWwzZVSBVzAiK+ECQQCfOi8JLaozH6grongQNWXEfedXVYZm95jUBrQUNUSu\n"
    "Xf1BP1+9471VbdCq3qEPvqbFjrrwzO/NzCp1r4q2DjRn\n"
    "-----END RSA PRIVATE KEY-----\n";

/* Ed25519 PKCS#8 with a 31-octet seed */
static const char ed25519_short_seed[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC0CAQAwBQYDK2VwBCEEH51hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn8=\n"
    "-----END PRIVATE KEY-----\n";

/* rsa2048_pkcs8 labelled RSA PRIVATE KEY */
static const char pkcs8_as_pkcs1[] =
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC5OvtMBZMn/k7I\n"
    "iZMtDeQ81/VZlNZ7t8VjS+hu4nGbDLnpZ7SV31E0jB8Oc7c0zSab7UqtgNXSHcTs\n"
    "0oA8JEHWlokrJ/R/kjeYESIYV3XrEsSepPzB57vNXQHjaQ8bwnEiTRcV8/qo4wxP\n"
    "bZUtIJ5Z6tUmqS1HCf1AAdIo5lMldRVcIfxuSGXflofbCB61XycoSwvK1AQVh7zw\n"
    "VjFhDJN7xH40yrQz3ZRmcIMyjy/VLTCAllBBvlX5WNidTiyLz7r0LWZY2VRyizPN\n"
    "fLuV5GIEVEwaCb5VyWDpkGVXjLHj5BXqO5oT8QxfWFOJN6H2EkCR1ThDrsfm30yk\n"
    "UL3A6NNlAgMBAAECggEAA9yLKxtNpU6LqWoWz6BjwvH0mzS7YPJkksydEJy3ZhZW\n"
    "lNtU3C/+4yPNrPE0H01skeEZRrMyIfJ9bbt4sWhHGBhkzSnE0tkDQDARQCUon+kx\n"
    "AKarX0Z7t40KEknZJwi/b4ngYpSGw/kRw2EjNEDjFDhNT8REnZ/DcA9pqHEeyB/W\n"
    "0QM7u3nRCxXie0zQryRA/HOSj3f1regX3HsRYKkbnQH335QqFHcMvvlJ22bvUoo4\n"
    "owXxmCjZJON9c/hlVpu50c7Th8B1F5icNdy9HKIAiCd6q6xXORzvy23m7Vk81hY3\n"
    "cGgizN8B5Nqz9acv+oD+qTTJFQMD3I9KZKKGgewYeQKBgQD7b2/jBGluoEWSCCd2\n"
    "R3Bot+EG+Gij1f24+fuNI6HmGPr+lGLyBfvP+OytNbGrrhplzHF14KcnbT21hOFl\n"
    "YpWIvz0JEYSFd/wD3zvrCYmztQQAOzFuHchX0Tonaq68b9rOxYcRdvp0iXWBGCn8\n"
    "Ghk85ROvFpg3fGJfosUKMLX5SQKBgQC8l9pKv1ntMb6/u052UJ7CDfAhM5G2jx9B\n"
    "dDxoPMN8+Y+rRqVf+Iy06wyameyCzIRCt8hcob7TKHHTy/Us54pn4heaTRho2Ysl\n"
    "6Uwb2ZPwkGyTazukH82GYTxFR5J1jnIz3hkRZR1sb/uvGgmMPzE+GRF9mM9iur/T\n"
    "xXXweD4FPQKBgAfVjwzpxEc4IzLLoj8jNrNsl0xaTRhdwIwU7euV4qOCv79S7EpS\n"
    "OWhffzBebezFffkSB67+kva9hqCzRTqdeb9LBiHUM+bcuDN+ryVBpNK+nyNKtN2T\n"
    "e/yQfllgD5W7fnvW18CJjoA3EDw3fodmYMbu9FAOSivgakhEkBMjNWhRAoGBAKDo\n"
    "Pwt/b858nu8fdLZl2s5e7f6l7TEBs/04m0GkdnZuxzGvOPJFMmg6E6rkoXKH5GC4\n"
    "RW8jYZjv7Q5z+l+xvdkcgl7YYHc1BQ/3mUQ5w4uA7eJpn51MtSJuW+oQQtmiC7ZN\n"
    "TL4Ws6ANe4POh07tq6n74XxzoJ3wEDMzSok9Tk1RAoGAE9CUwBOlFvbd9c7tGIHy\n"
    "EdwaBSquJT6xi2YjRH2p4r/Iw1Cbjs3P2v/xierlRW5jiNnCwLE5vzfZvBU4TaML\n"
    "nYDnToNyPyFhvQ9/kWCaCyojuzVu+FVGuc92ZZk3tlnwTJHouDoLeKjDEJK6ocki\n"
    "jlk3qIrAEfwYaSl+nIx+7ic=\n"
    "-----END RSA PRIVATE KEY-----\n";

/* RFC 8463 appendix A.2 seed as PKCS#8 */
static const char rfc8463_key[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIVATE KEY-----\n";

/* RFC 8410 section 10.3 */
static const char rfc8410_key[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n"
    "-----END PRIVATE KEY-----\n";

/* Parses pem, checking that it succeeds; prints the error if not. */
static struct dkim_key *parse_ok(const char *pem, size_t len)
{
    struct dkim_key *k = NULL;
    char err[256] = "";
    int rc = dkim_key_parse(pem, len, &k, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "dkim_key_parse: %d: %s\n", rc, err);
    CHECK_INT(rc, 0);
    return k;
}

/* The record of k (malloc'ed), or NULL after a failed check. */
static char *record_of(const struct dkim_key *k)
{
    char *record = NULL;
    CHECK_INT(dkim_key_record(k, &record), 0);
    return record;
}

/* k as PEM (malloc'ed), checking its shape. */
static char *pem_of(const struct dkim_key *k)
{
    char *pem = NULL;
    size_t len = 0;
    CHECK_INT(dkim_key_pem(k, &pem, &len), 0);
    if (!pem)
        return NULL;
    CHECK_INT(len, strlen(pem));
    CHECK(strncmp(pem, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
    CHECK(len > 26 && strcmp(pem + len - 26, "-----END PRIVATE KEY-----\n") == 0);
    return pem;
}

/* Whether two big-endian magnitudes are the same number. BearSSL's key
 * generator fills fixed-size buffers, so a CRT value may start with a zero
 * octet (about 1 in 256) that DER, and so the parsed key, leaves out. */
static int same_uint(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
    while (alen > 0 && a[0] == 0) {
        a++;
        alen--;
    }
    while (blen > 0 && b[0] == 0) {
        b++;
        blen--;
    }
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* Writes k as PEM, parses it again, and checks that the same key came
 * back: same algorithm, size, record, and the same PEM once more. */
static void check_pem_round_trip(const struct dkim_key *k)
{
    char *pem = pem_of(k), *pem2 = NULL, *rec = record_of(k), *rec2 = NULL;
    struct dkim_key *back = pem ? parse_ok(pem, strlen(pem)) : NULL;

    if (back) {
        CHECK_INT(dkim_key_alg(back), dkim_key_alg(k));
        CHECK_INT(dkim_key_bits(back), dkim_key_bits(k));
        rec2 = record_of(back);
        CHECK_STR(rec2, rec);
        pem2 = pem_of(back);
        CHECK_STR(pem2, pem);
        if (k->alg == DKIM_ALG_RSA_SHA256) {
            CHECK(same_uint(back->rsa.p, back->rsa.plen, k->rsa.p, k->rsa.plen));
            CHECK(same_uint(back->rsa.q, back->rsa.qlen, k->rsa.q, k->rsa.qlen));
            CHECK(same_uint(back->rsa.dp, back->rsa.dplen, k->rsa.dp, k->rsa.dplen));
            CHECK(same_uint(back->rsa.dq, back->rsa.dqlen, k->rsa.dq, k->rsa.dqlen));
            CHECK(same_uint(back->rsa.iq, back->rsa.iqlen, k->rsa.iq, k->rsa.iqlen));
        } else {
            CHECK(memcmp(back->ed25519_sk, k->ed25519_sk, sizeof(k->ed25519_sk)) == 0);
            CHECK(memcmp(back->ed25519_pk, k->ed25519_pk, sizeof(k->ed25519_pk)) == 0);
        }
    }
    dkim_key_free(back);
    free(pem);
    free(pem2);
    free(rec);
    free(rec2);
}

static void test_openssl_keys(void)
{
    static const struct {
        const char *name, *pem, *record;
        enum dkim_alg alg;
        unsigned bits;
    } cases[] = {
        {"rsa1024_pkcs1", rsa1024_pkcs1, rsa1024_pkcs1_record, DKIM_ALG_RSA_SHA256, 1024},
        {"rsa2048_pkcs8", rsa2048_pkcs8, rsa2048_pkcs8_record, DKIM_ALG_RSA_SHA256, 2048},
        {"rsa1024_e3", rsa1024_e3, rsa1024_e3_record, DKIM_ALG_RSA_SHA256, 1024},
        {"rsa4096_pkcs8", rsa4096_pkcs8, rsa4096_pkcs8_record, DKIM_ALG_RSA_SHA256, 4096},
        {"ed25519_pkcs8", ed25519_pkcs8, ed25519_pkcs8_record, DKIM_ALG_ED25519_SHA256, 256},
        {"rfc8463_key", rfc8463_key,
         "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
         DKIM_ALG_ED25519_SHA256, 256},
        {"rfc8410_key", rfc8410_key,
         "v=DKIM1; k=ed25519; p=Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=",
         DKIM_ALG_ED25519_SHA256, 256},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dkim_key *k;
        char *rec, *pem;

        fprintf(stderr, "openssl key %s\n", cases[i].name);
        k = parse_ok(cases[i].pem, strlen(cases[i].pem));
        if (!k)
            continue;
        CHECK_INT(dkim_key_alg(k), cases[i].alg);
        CHECK_INT(dkim_key_bits(k), cases[i].bits);
        rec = record_of(k);
        CHECK_STR(rec, cases[i].record);
        free(rec);
        /* An Ed25519 key comes back as OpenSSL wrote it, octet for octet.
         * An RSA key may not: its d may be taken modulo (p-1)(q-1) or
         * lcm(p-1, q-1), both right; the round trip checks it instead. */
        pem = pem_of(k);
        if (k->alg == DKIM_ALG_ED25519_SHA256)
            CHECK_STR(pem, cases[i].pem);
        free(pem);
        check_pem_round_trip(k);
        if (k->alg == DKIM_ALG_ED25519_SHA256)
            CHECK(memcmp(k->ed25519_sk + 32, k->ed25519_pk, 32) == 0);
        dkim_key_free(k);
    }
}

/* A key whose CRT values start with a zero octet, as BearSSL's generator
 * leaves about 1 in 256 of them: the PEM has the minimal INTEGERs, the
 * same as for the key without the zeros, and the same numbers come back. */
static void test_rsa_leading_zeros(void)
{
    struct dkim_key *k = parse_ok(rsa2048_pkcs8, strlen(rsa2048_pkcs8));
    unsigned char dp[DKIM_RSA_MAX_BITS / 16 + 1], dq[sizeof dp], iq[sizeof dp];
    struct dkim_key padded;
    char *pem = NULL, *pem_padded = NULL;

    if (!k)
        return;
    padded = *k;
#define PAD(field, buf)                                                                            \
    do {                                                                                           \
        buf[0] = 0;                                                                                \
        memcpy(buf + 1, k->rsa.field, k->rsa.field##len);                                          \
        padded.rsa.field = buf;                                                                    \
        padded.rsa.field##len = k->rsa.field##len + 1;                                             \
    } while (0)
    PAD(dp, dp);
    PAD(dq, dq);
    PAD(iq, iq);
#undef PAD
    pem = pem_of(k);
    pem_padded = pem_of(&padded);
    CHECK_STR(pem_padded, pem);
    check_pem_round_trip(&padded);
    free(pem);
    free(pem_padded);
    dkim_key_free(k);
}

/* Ed25519 PKCS#8 v2 (RFC 5958 OneAsymmetricKey) with the public key, as
 * some other tools write it: the public key must match the seed. */
static void test_ed25519_with_public_key(void)
{
    unsigned char der[85] = {0x30, 0x53, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06,
                             0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20};
    static const char seed_b64[] = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
    static const char pk_b64[] = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
    size_t n = 0;
    char pem[256], err[256] = "";
    struct dkim_key *k = NULL;

    CHECK_INT(sodium_base642bin(der + 16, 32, seed_b64, strlen(seed_b64), NULL, &n, NULL,
                                sodium_base64_VARIANT_ORIGINAL),
              0);
    CHECK_INT(n, 32);
    /* [0] attributes (empty), then [1] public key: unused bits 0, 32 octets. */
    memcpy(der + 48, "\xa0\x00\x81\x21\x00", 5);
    CHECK_INT(sodium_base642bin(der + 53, 32, pk_b64, strlen(pk_b64), NULL, &n, NULL,
                                sodium_base64_VARIANT_ORIGINAL),
              0);
    CHECK(br_pem_encode(pem, der, sizeof(der), "PRIVATE KEY", BR_PEM_LINE64) < sizeof(pem));
    k = parse_ok(pem, strlen(pem));
    if (k) {
        char *rec = record_of(k);
        CHECK_STR(rec, "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
        free(rec);
    }
    dkim_key_free(k);

    der[84] ^= 1;
    br_pem_encode(pem, der, sizeof(der), "PRIVATE KEY", BR_PEM_LINE64);
    CHECK_INT(dkim_key_parse(pem, strlen(pem), &k, err, sizeof(err)), -EINVAL);
    CHECK(k == NULL);
    CHECK_STR(err, "Ed25519 key is inconsistent: its public key does not match its private key");

    der[84] ^= 1;
    der[4] = 0; /* a public key needs version 1 */
    br_pem_encode(pem, der, sizeof(der), "PRIVATE KEY", BR_PEM_LINE64);
    CHECK_INT(dkim_key_parse(pem, strlen(pem), &k, err, sizeof(err)), -EINVAL);
    CHECK_STR(err, "malformed Ed25519 public key in PKCS#8 key");
}

static void test_refused(void)
{
    char truncated[2048], two[1024];
    static const char certificate[] =
        "-----BEGIN CERTIFICATE-----\n"
        "MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n"
        "-----END CERTIFICATE-----\n";
    struct {
        const char *name, *pem, *err;
    } cases[] = {
        {"512 bits", rsa512_pkcs1, "RSA key of 512 bits: at least 1024 are needed"},
        {"empty", "", "not a PEM private key"},
        {"garbage", "hello world\n\x01\x02\xff\n", "not a PEM private key"},
        {"truncated", truncated, "truncated PEM: an object has no END line"},
        {"certificate", certificate, "PEM object \"CERTIFICATE\" is not a private key"},
        {"public key", ed25519_public, "PEM object \"PUBLIC KEY\" is not a private key"},
        {"EC PKCS#8", ec_pkcs8, "EC keys are not supported: DKIM signs with RSA or Ed25519"},
        {"EC SEC1", ec_sec1, "EC keys are not supported: DKIM signs with RSA or Ed25519"},
        {"Ed448", ed448_pkcs8,
         "key algorithm 1.3.101.113 is not supported: DKIM signs with RSA or Ed25519"},
        {"encrypted", rsa_encrypted,
         "encrypted private keys are not supported: the key must be stored unencrypted, "
         "readable only by the MTA"},
        {"bad modulus", rsa_bad_modulus,
         "RSA key is inconsistent: its modulus is not the product of its primes"},
        {"bad exponent", rsa_bad_pubexp,
         "RSA key is inconsistent: its public exponent does not match its private exponents"},
        {"short seed", ed25519_short_seed, "Ed25519 private key of 31 octets instead of 32"},
        {"PKCS#8 as PKCS#1", pkcs8_as_pkcs1, "malformed RSA private key"},
        {"bad base64",
         "-----BEGIN PRIVATE KEY-----\nMC4CAQAw!!!BQYDK2VwBCIE\n-----END PRIVATE KEY-----\n",
         "malformed PEM: bad base64 or line in an object"},
        {"not DER", "-----BEGIN PRIVATE KEY-----\naGVsbG8gd29ybGQ=\n-----END PRIVATE KEY-----\n",
         "malformed PKCS#8 private key"},
        {"not DER PKCS#1",
         "-----BEGIN RSA PRIVATE KEY-----\naGVsbG8gd29ybGQ=\n-----END RSA PRIVATE KEY-----\n",
         "malformed RSA private key"},
        {"two keys", two, "more than one private key in the file"},
    };

    snprintf(truncated, sizeof(truncated), "%.*s", (int)(strlen(rsa2048_pkcs8) / 2), rsa2048_pkcs8);
    snprintf(two, sizeof(two), "%s%s", ed25519_pkcs8, rfc8410_key);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dkim_key *k = (struct dkim_key *)1;
        char err[256] = "";
        fprintf(stderr, "refused: %s\n", cases[i].name);
        CHECK_INT(dkim_key_parse(cases[i].pem, strlen(cases[i].pem), &k, err, sizeof(err)),
                  -EINVAL);
        CHECK(k == NULL);
        CHECK_STR(err, cases[i].err);
    }
    /* A small err buffer is cut, not overrun; no buffer at all is fine. */
    {
        struct dkim_key *k = NULL;
        char err[8];
        CHECK_INT(dkim_key_parse("x", 1, &k, err, sizeof(err)), -EINVAL);
        CHECK_STR(err, "not a P");
        CHECK_INT(dkim_key_parse("x", 1, &k, NULL, 0), -EINVAL);
    }
}

/* What a key file may look like around the key and still be read. */
static void test_pem_variants(void)
{
    static const char *prefix = "Bag Attributes\n    localKeyID: 01 02\nKey Attributes: <none>\n";
    char buf[4096], *crlf = buf, *rec;
    struct dkim_key *k;
    size_t len;

    /* CRLF line ends, text before the key. */
    len = (size_t)snprintf(buf, sizeof(buf), "%s", prefix);
    for (const char *p = rsa1024_pkcs1; *p; p++) {
        if (*p == '\n')
            crlf[len++] = '\r';
        crlf[len++] = *p;
    }
    k = parse_ok(buf, len);
    rec = k ? record_of(k) : NULL;
    CHECK_STR(rec, rsa1024_pkcs1_record);
    free(rec);
    dkim_key_free(k);

    /* No final newline, then a certificate after the key. */
    k = parse_ok(ed25519_pkcs8, strlen(ed25519_pkcs8) - 1);
    rec = k ? record_of(k) : NULL;
    CHECK_STR(rec, ed25519_pkcs8_record);
    free(rec);
    dkim_key_free(k);
    snprintf(buf, sizeof(buf), "%s-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
             ed25519_pkcs8);
    k = parse_ok(buf, strlen(buf));
    CHECK(k != NULL);
    dkim_key_free(k);
}

static void test_generate(void)
{
    struct dkim_key *k = NULL, *k2 = NULL;
    char *rec = NULL, *rec2 = NULL;
    static const unsigned rsa_sizes[] = {1024, 2048};
    static const unsigned bad_sizes[] = {0, 512, 1023, 4097, 8192, 0xffffffffu};

    CHECK_INT(dkim_key_generate(DKIM_ALG_ED25519_SHA256, 0, &k), 0);
    CHECK_INT(dkim_key_generate(DKIM_ALG_ED25519_SHA256, 0, &k2), 0);
    if (k && k2) {
        CHECK_INT(dkim_key_alg(k), DKIM_ALG_ED25519_SHA256);
        CHECK_INT(dkim_key_bits(k), 256);
        rec = record_of(k);
        rec2 = record_of(k2);
        CHECK(rec && strncmp(rec, "v=DKIM1; k=ed25519; p=", 22) == 0 && strlen(rec) == 22 + 44);
        CHECK(rec && rec2 && strcmp(rec, rec2) != 0);
        check_pem_round_trip(k);
    }
    free(rec);
    free(rec2);
    dkim_key_free(k);
    dkim_key_free(k2);

    for (size_t i = 0; i < sizeof(rsa_sizes) / sizeof(rsa_sizes[0]); i++) {
        k = NULL;
        CHECK_INT(dkim_key_generate(DKIM_ALG_RSA_SHA256, rsa_sizes[i], &k), 0);
        if (!k)
            continue;
        CHECK_INT(dkim_key_alg(k), DKIM_ALG_RSA_SHA256);
        CHECK_INT(dkim_key_bits(k), rsa_sizes[i]);
        rec = record_of(k);
        /* ...0203010001: the exponent 65537 ends the SubjectPublicKeyInfo. */
        CHECK(rec && strncmp(rec, "v=DKIM1; k=rsa; p=MI", 20) == 0);
        CHECK(rec && strlen(rec) > 6 && strcmp(rec + strlen(rec) - 6, "IDAQAB") == 0);
        free(rec);
        check_pem_round_trip(k);
        dkim_key_free(k);
    }

    for (size_t i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
        k = (struct dkim_key *)1;
        CHECK_INT(dkim_key_generate(DKIM_ALG_RSA_SHA256, bad_sizes[i], &k), -EINVAL);
        CHECK(k == NULL);
    }
    k = (struct dkim_key *)1;
    CHECK_INT(dkim_key_generate((enum dkim_alg)7, 2048, &k), -EINVAL);
    CHECK(k == NULL);
}

static void write_file(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK_INT(write(fd, data, len), len);
    close(fd);
}

static void test_load(void)
{
    const char *tmp = getenv("TMPDIR");
    char dir[256], path[300], want[512], err[512] = "", *big = NULL, *rec;
    struct dkim_key *k = NULL;
    size_t keylen = strlen(ed25519_pkcs8);

    snprintf(dir, sizeof(dir), "%s/test_key.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    CHECK(mkdtemp(dir) != NULL);

    snprintf(path, sizeof(path), "%s/key.pem", dir);
    write_file(path, ed25519_pkcs8, keylen);
    CHECK_INT(dkim_key_load(path, &k, err, sizeof(err)), 0);
    rec = k ? record_of(k) : NULL;
    CHECK_STR(rec, ed25519_pkcs8_record);
    free(rec);
    dkim_key_free(k);

    /* Exactly the limit: the key and blank lines. */
    big = malloc(DKIM_KEY_FILE_MAX + 1);
    CHECK(big != NULL);
    if (big) {
        memcpy(big, ed25519_pkcs8, keylen);
        memset(big + keylen, '\n', DKIM_KEY_FILE_MAX + 1 - keylen);
        write_file(path, big, DKIM_KEY_FILE_MAX);
        CHECK_INT(dkim_key_load(path, &k, err, sizeof(err)), 0);
        dkim_key_free(k);
        write_file(path, big, DKIM_KEY_FILE_MAX + 1);
        CHECK_INT(dkim_key_load(path, &k, err, sizeof(err)), -EFBIG);
        CHECK(k == NULL);
        snprintf(want, sizeof(want), "%s: larger than 65536 octets: not a key file", path);
        CHECK_STR(err, want);
        free(big);
    }

    write_file(path, "not a key\n", 10);
    CHECK_INT(dkim_key_load(path, &k, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want), "%s: not a PEM private key", path);
    CHECK_STR(err, want);
    write_file(path, rsa512_pkcs1, strlen(rsa512_pkcs1));
    CHECK_INT(dkim_key_load(path, &k, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want), "%s: RSA key of 512 bits: at least 1024 are needed", path);
    CHECK_STR(err, want);
    unlink(path);

    CHECK_INT(dkim_key_load(path, &k, err, sizeof(err)), -ENOENT);
    CHECK(k == NULL);
    snprintf(want, sizeof(want), "%s: No such file or directory", path);
    CHECK_STR(err, want);

    CHECK_INT(dkim_key_load(dir, &k, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want), "%s: not a regular file", dir);
    CHECK_STR(err, want);
    rmdir(dir);
}

int main(void)
{
    test_openssl_keys();
    test_rsa_leading_zeros();
    test_ed25519_with_public_key();
    test_refused();
    test_pem_variants();
    test_generate();
    test_load();
    CHECK_DONE();
}
