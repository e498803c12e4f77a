using System.Net;

namespace DiskImage.OpenStack;

/// <summary>An OpenStack service (Keystone or Glance) refused a request or answered something unexpected.</summary>
public sealed class OpenStackException : Exception
{
    /// <summary>Creates the exception for a request and the service's answer.</summary>
    public OpenStackException(HttpStatusCode statusCode, string method, Uri requestUri, string message)
        : base($"{method} {requestUri.AbsolutePath}: {(int)statusCode} {statusCode}: {message}")
    {
        StatusCode = statusCode;
        Method = method;
        RequestUri = requestUri;
    }

    /// <summary>The HTTP status the service answered.</summary>
    public HttpStatusCode StatusCode { get; }

    /// <summary>The request's method.</summary>
    public string Method { get; }

    /// <summary>The request's URL.</summary>
    public Uri RequestUri { get; }
}
